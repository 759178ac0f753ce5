import { describe, expect, it } from 'vitest';
import { chatSelection, noSelection, type ChatSelection, type ChatSelectionAction } from '../../renderer/features/chat/chat-selection';

const run = (...actions: ChatSelectionAction[]): ChatSelection => actions.reduce(chatSelection, noSelection);

describe('which conversation the Chat view shows', () => {
  it('New drafts a conversation with the model given, leaving the one chosen; the first message makes it the chosen one', () => {
    expect(run({ type: 'select', id: 'c1' }, { type: 'new', modelId: 'm1' })).toEqual({
      selected: null,
      drafting: true,
      draftModel: 'm1',
      ready: null,
      firstRun: false,
    });
    expect(run({ type: 'new', modelId: 'm1' }, { type: 'created', id: 'c2' })).toMatchObject({ selected: 'c2', drafting: false });
  });

  it('a first model ready ends the first run and drafts with it until the first message', () => {
    const ready = run({ type: 'first-run-started' }, { type: 'model-ready', modelId: 'm1' });
    expect(ready).toEqual({ selected: null, drafting: true, draftModel: 'm1', ready: 'm1', firstRun: false });
    expect(chatSelection(ready, { type: 'created', id: 'c1' })).toMatchObject({ ready: null, drafting: false, selected: 'c1' });
  });

  it('choosing a conversation in the list ends a draft', () => {
    expect(run({ type: 'requested', modelId: 'm2' }, { type: 'select', id: 'c3' })).toMatchObject({
      selected: 'c3',
      drafting: false,
      draftModel: 'm2',
    });
  });
});
