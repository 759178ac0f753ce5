import { UsageError, type Command } from '../command';

export const chatsCommand: Command = {
  summary: 'Saved conversations: list them, or export one as Markdown or JSON',
  usage: 'chats list [--json] | chats export <id> [--format md|json]',
  options: { format: { type: 'string' } },
  async run({ io, json, args, values, services }) {
    const [action, id] = args;
    if (action === undefined) throw new UsageError('chats needs an action: list or export.');
    const host = await services();
    if (action === 'list') {
      const list = await host.handlers['chats.list'](undefined);
      if (json) io.out(JSON.stringify(list));
      else if (list.length === 0) io.out('No conversations yet.');
      else
        for (const c of list)
          io.out(`${c.id}  ${c.pinned ? '* ' : ''}${c.title}  (${c.messageCount} messages, ${c.updatedAt.slice(0, 16).replace('T', ' ')})`);
      return 0;
    }
    if (action === 'export') {
      if (!id) throw new UsageError('chats export needs a conversation id (see chats list).');
      const format = (values.format as string | undefined) ?? 'md';
      if (format !== 'md' && format !== 'json') throw new UsageError('--format must be md or json.');
      io.out((await host.handlers['chats.export']({ id, format })).content);
      return 0;
    }
    throw new UsageError(`unknown chats action "${action ?? ''}".`);
  },
};
