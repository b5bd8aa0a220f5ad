import { defineConfig } from 'vite';

// Relative asset paths so the same build works from the Worker's [assets]
// binding and from Cloudflare Pages, at any mount path.
export default defineConfig({
  base: './',
  oxc: {
    jsx: { runtime: 'automatic' },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    reportCompressedSize: true,
  },
  server: { host: '127.0.0.1' },
  preview: { host: '127.0.0.1' },
});
