import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { createQueryClient } from './queries';
import { initialToken } from './token';
import './styles.css';

// The token fragment (#token=…) is consumed before the hash router reads the URL.
const token = initialToken();
const client = createQueryClient();
const rootElement = document.getElementById('root');
if (rootElement) {
  createRoot(rootElement).render(
    <StrictMode>
      <App client={client} initialToken={token} />
    </StrictMode>,
  );
}
