/**
 * Which conversation the Chat view shows. `drafting` is a new conversation not
 * yet written: the message box is there at once, and the first message
 * creates it with `draftModel`.
 */
export interface ChatSelection {
  /** The conversation chosen in the list; null: the most recent one. */
  selected: string | null;
  drafting: boolean;
  draftModel: string | null;
  /** A first model just downloaded and verified: "<name> is ready". */
  ready: string | null;
  /** The first-run card started a download: it stays until the model is ready. */
  firstRun: boolean;
}

export type ChatSelectionAction =
  | { type: 'select'; id: string | null }
  | { type: 'new'; modelId: string | null }
  | { type: 'requested'; modelId: string }
  | { type: 'draft-model'; modelId: string | null }
  | { type: 'first-run-started' }
  | { type: 'model-ready'; modelId: string }
  | { type: 'created'; id: string };

export const noSelection: ChatSelection = { selected: null, drafting: false, draftModel: null, ready: null, firstRun: false };

export function chatSelection(state: ChatSelection, action: ChatSelectionAction): ChatSelection {
  switch (action.type) {
    case 'select':
      return { ...state, selected: action.id, drafting: false };
    case 'new':
      return { ...state, draftModel: action.modelId, drafting: true, selected: null, ready: null };
    case 'requested':
      return { ...state, draftModel: action.modelId, drafting: true, selected: null };
    case 'draft-model':
      return { ...state, draftModel: action.modelId };
    case 'first-run-started':
      return { ...state, firstRun: true };
    case 'model-ready':
      return { ...state, draftModel: action.modelId, drafting: true, firstRun: false, ready: action.modelId };
    case 'created':
      return { ...state, selected: action.id, drafting: false, ready: null };
  }
}
