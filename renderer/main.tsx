import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './app/App';
import { connectToHost } from './transport/host-connection';
import './styles.css';
import './features/documents/documents.css';

const connection = connectToHost(window);
const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root element');
createRoot(root).render(
  <StrictMode>
    <App connection={connection} />
  </StrictMode>,
);
