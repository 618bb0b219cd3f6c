import { createDocumentApi, IfMatchProvider, RequestStats } from '@ifmatch/react-query';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App.js';
import './styles.css';

const stats = new RequestStats();
const api = createDocumentApi({ stats });
const queryClient = new QueryClient();

const root = document.getElementById('root');
if (root) {
  createRoot(root).render(
    <StrictMode>
      <QueryClientProvider client={queryClient}>
        <IfMatchProvider api={api} stats={stats}>
          <App />
        </IfMatchProvider>
      </QueryClientProvider>
    </StrictMode>,
  );
}
