import { randomUUID } from 'node:crypto';
import type { Notice } from '../../shared/contract';
import type { EventBus } from './events';

/** Things the user must be told about (a corrupt file replaced, a crash). */
export class NoticeBoard {
  private readonly notices: Notice[] = [];

  constructor(private readonly events: EventBus) {}

  add(level: Notice['level'], message: string): Notice {
    const notice: Notice = { id: randomUUID(), level, message, at: new Date().toISOString() };
    this.notices.push(notice);
    if (this.notices.length > 50) this.notices.shift();
    this.events.emit('onNotice', notice);
    return notice;
  }

  list(): Notice[] {
    return [...this.notices];
  }

  dismiss(id: string): Notice[] {
    const index = this.notices.findIndex((notice) => notice.id === id);
    if (index >= 0) this.notices.splice(index, 1);
    return this.list();
  }
}
