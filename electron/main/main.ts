// Electron entry point: kept to wiring so that everything else is testable as plain Node.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as electron from 'electron';
import { defaultPaths, startDesktop } from './desktop';

startDesktop(electron, defaultPaths(path.dirname(fileURLToPath(import.meta.url))));
