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
    rolldownOptions: {
      // TanStack Query's modules start with 'use client' (a React Server
      // Components marker, meaningless in this client-only bundle): without
      // this, every build prints one warning per module.
      onwarn(warning, warn) {
        if (warning.code === 'MODULE_LEVEL_DIRECTIVE') return;
        warn(warning);
      },
    },
  },
  server: { host: '127.0.0.1' },
  preview: { host: '127.0.0.1' },
});
