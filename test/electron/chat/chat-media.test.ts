import { describe, expect, it } from 'vitest';
import { fitMedia, THREAD_MEDIA_BUDGET } from '../../../electron/chat/chat-media';
import type { ChatMessage } from '../../../shared/inference';

const image = (bytes: number) => ({ kind: 'image' as const, mime: 'image/png' as const, data: 'A'.repeat(bytes) });
const refuse = (): never => {
  throw new Error('refused');
};

describe('a thread’s images on their way to the engine', () => {
  it('keeps the newest messages’ files within what one request carries; older ones are left out with a line', () => {
    const part = Math.floor(THREAD_MEDIA_BUDGET / 2.5);
    const messages: ChatMessage[] = [
      { role: 'user', text: 'first', media: [image(part)] },
      { role: 'assistant', text: 'ok' },
      { role: 'user', text: 'second', media: [image(part)] },
      { role: 'assistant', text: 'ok' },
      { role: 'user', text: 'third', media: [image(part)] },
    ];
    const sent = fitMedia(messages, { vision: true, audio: false }, refuse);
    expect(sent[0]).toEqual({
      role: 'user',
      text: 'first\n\n[1 image attached here, left out: the conversation’s files exceed what one request carries]',
    });
    expect(sent[2]).toBe(messages[2]);
    expect(sent[4]).toBe(messages[4]);
  });

  it('refuses the message being answered when the model cannot take its files, and notes earlier ones', () => {
    const earlier: ChatMessage[] = [
      { role: 'user', text: 'look', media: [image(100)] },
      { role: 'assistant', text: 'ok' },
      { role: 'user', text: 'and now?' },
    ];
    expect(fitMedia(earlier, { vision: false, audio: false }, refuse)[0]).toEqual({
      role: 'user',
      text: 'look\n\n[1 image attached here, not shown to this model]',
    });
    expect(() => fitMedia([{ role: 'user', text: 'x', media: [image(100)] }], { vision: false, audio: false }, refuse)).toThrow('refused');
  });
});
