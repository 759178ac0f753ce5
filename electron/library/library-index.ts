/** The library's index on disk, <dataDir>/library.json: read once at start, written whole after every change. */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { ModelEntry } from '../../shared/library';
import { SerialFileWriter } from '../platform/atomic-file';
import type { NoticeBoard } from '../platform/notices';
import type { FileStamp } from './file-identity';

export interface StoredFolder {
  id: string;
  path: string;
  /** Files the user removed from the library; a rescan leaves them out. */
  ignored: string[];
}

export interface StoredLibrary {
  version: 1;
  models: ModelEntry[];
  folders: StoredFolder[];
  /** By model id: what its files looked like when their headers were last read. */
  stamps?: Record<string, FileStamp[]>;
}

export class LibraryIndexFile {
  private readonly writer: SerialFileWriter;

  constructor(dataDir: string) {
    this.writer = new SerialFileWriter(path.join(dataDir, 'library.json'));
  }

  /**
   * The stored index, or null where there is none yet. An unreadable one is
   * kept aside under another name, with a notice, and null returned: the
   * library is rebuilt.
   */
  async read(notices: NoticeBoard): Promise<StoredLibrary | null> {
    const file = this.writer.file;
    try {
      const parsed = JSON.parse(await fs.readFile(file, 'utf8')) as StoredLibrary;
      if (parsed.version !== 1 || !Array.isArray(parsed.models) || !Array.isArray(parsed.folders)) throw new Error('unknown layout');
      return parsed;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        const kept = `${file}.corrupt-${Date.now()}`;
        await fs.rename(file, kept).catch(() => undefined);
        notices.add(
          'warning',
          `The model library index was unreadable and was rebuilt; the old one was kept as ${path.basename(kept)}. Your model files were not touched.`,
        );
      }
      return null;
    }
  }

  write(stored: StoredLibrary): Promise<void> {
    return this.writer.write(`${JSON.stringify(stored)}\n`);
  }

  /** Resolves when every queued write has reached the disk. */
  flush(): Promise<void> {
    return this.writer.flush();
  }
}
