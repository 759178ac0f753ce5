/**
 * A writer for the crash test: appends conversations and streamed replies as
 * fast as it can, printing "ack <id> <content>" after each commit, until it is
 * killed (SIGKILL, at a random moment chosen by the test).
 */
import { ConversationStore } from '../../electron/chat/conversation-store';

const store = new ConversationStore(process.argv[2]!);
let n = 0;
for (;;) {
  const conversation = store.create({ title: `trial ${n}` });
  const user = store.addMessage(conversation.id, null, 'user', `question ${n}`);
  process.stdout.write(`ack ${user.id} question ${n}\n`);
  const reply = store.addMessage(conversation.id, user.id, 'assistant', '', 'streaming');
  for (let i = 0; i < 20; i += 1) store.appendToReply(reply.id, `word${i} `, '');
  store.finishReply(reply.id, 'complete', null, null);
  process.stdout.write(`ack ${reply.id} done\n`);
  n += 1;
}
