import { useCallback, useEffect, useMemo, useReducer, useRef, useState } from 'react';
import { useLocation, useSearch } from 'wouter';
import type { ChatMessageRecord, Conversation } from '../../../shared/chat';
import { RpcError } from '../../../shared/errors';
import { useHostApi, useHostEvent, useHostQuery } from '../../app/host-context';
import { describeFailure } from '../../app/problems';
import { findRemote, isRemoteRef, useMachines } from '../machines/machines';
import { attachNote, isImageType, mediaOf, type PendingAttachment } from './attachment-files';
import { ChatDocuments } from '../documents/ChatDocuments';
import { isDocumentFile } from '../documents/doc-files';
import { useChatDocuments } from '../documents/useDocs';
import { chatSelection, noSelection } from './chat-selection';
import { Composer, hasFiles } from './Composer';
import { ContextGauge } from './ContextGauge';
import { ConversationList } from './ConversationList';
import { ConversationToolbar, SystemPrompt } from './ConversationToolbar';
import { LoadProgress, useModelLoading } from './LoadProgress';
import type { MessageActions } from './MessageItem';
import { NewConversation } from './NewConversation';
import { RemoteModelNote } from './RemoteModelNote';
import { Thread } from './Thread';
import { useConversation } from './useConversation';
import { useLiveReply } from './useLiveReply';

/** Latest leaf under a message: follow the newest child each step. */
function deepestLeaf(messages: ChatMessageRecord[], fromId: string): string {
  let current = fromId;
  for (;;) {
    const children = messages.filter((m) => m.parentId === current);
    if (children.length === 0) return current;
    current = children[children.length - 1]!.id;
  }
}

/** A refusal of a message's files (their type, size or contents, or a model that takes text only): nothing was sent. */
function refusalOf(error: unknown): string | null {
  if (!(error instanceof RpcError)) return null;
  if (error.code === 'payload_too_large') return error.message;
  return (error.details as { attachments?: unknown } | undefined)?.attachments === true ? error.message : null;
}

/** What one message carries besides its text. */
interface SendExtra {
  attachments?: PendingAttachment[];
  /** An edited message keeps the attachments of this one. */
  attachmentsFrom?: string;
}

/** The Chat view: the conversation list, one conversation (toolbar, thread) or a new one, and the message box. */
export function ChatView() {
  const api = useHostApi();
  const [list, setList] = useHostQuery('chats.list', 'onConversationChanged');
  const [library] = useHostQuery('models.list', 'onLibraryChanged');
  const { machines, query: machinesQuery } = useMachines();
  const [inference, setInference] = useHostQuery('inference.status');
  useHostEvent('onInferenceStatus', setInference);
  const [settings, setSettings] = useHostQuery('settings.get');
  useHostEvent('onSettingsChanged', setSettings);
  const engines = settings.status === 'ready' ? settings.data.inference.engines : undefined;
  const [attached, setAttached] = useState<PendingAttachment[]>([]);
  const localApiBusy = inference.status === 'ready' && inference.data.queue?.running === 'api';
  const [, navigate] = useLocation();
  const [selection, dispatch] = useReducer(chatSelection, noSelection);
  // Failures of this view's calls, shown above the message box.
  const [error, setError] = useState<string | null>(null);
  const fail = useCallback((e: unknown, doing?: string) => setError(describeFailure(e, doing)), []);
  const composer = useRef<HTMLTextAreaElement>(null);
  const loading = useModelLoading();
  const { live, reset: resetLive } = useLiveReply();

  const conversations = useMemo(() => (list.status === 'ready' ? list.data : []), [list]);
  const models = useMemo(() => (library.status === 'ready' ? library.data.models : []), [library]);
  const current = selection.drafting ? null : (selection.selected ?? conversations[0]?.id ?? null);
  const { detail, setDetail, reload } = useConversation(current, fail);
  const chatDocs = useChatDocuments(current);
  // Images and audio dropped on the thread join the message, as if dropped on the box.
  const attachMedia = useRef<(files: File[]) => void>(null);

  const byId = useMemo(() => new Map((detail?.messages ?? []).map((m) => [m.id, m])), [detail]);
  const thread = (current ? (detail?.thread ?? []) : []).map((id) => byId.get(id)!).filter(Boolean);
  const streaming = thread.some((m) => m.status === 'streaming');

  // A model is listed when it is in the library or another machine lists it ("@<machine>/<model>");
  // usable when it is local or its machine answers now.
  const listed = useCallback(
    (id: string | null | undefined): id is string => !!id && (models.some((m) => m.id === id) || findRemote(machines, id) !== null),
    [models, machines],
  );
  const usable = useCallback(
    (id: string | null | undefined): id is string =>
      !!id && (models.some((m) => m.id === id) || findRemote(machines, id)?.machine.state === 'online'),
    [models, machines],
  );
  // The last model used (this conversation's, else the most recent conversation's that can answer now), else the only or first one.
  const lastUsedModel = useMemo(() => {
    const firstRemote = machines.find((m) => m.state === 'online' && m.models.length > 0)?.models[0]?.ref;
    const pick = (id: string | null | undefined) => (usable(id) ? id : null);
    return (
      pick(detail?.conversation.modelId) ?? conversations.map((c) => pick(c.modelId)).find(Boolean) ?? models[0]?.id ?? firstRemote ?? null
    );
  }, [detail, conversations, models, machines, usable]);
  const newModel = listed(selection.draftModel) ? selection.draftModel : lastUsedModel;
  const remoteCount = machines.reduce((n, m) => n + m.models.length, 0);
  const conversationModel = current && detail ? detail.conversation.modelId : newModel;
  const remote = findRemote(machines, conversationModel);
  // The local API's queue holds up only replies from this machine.
  const apiBusy = localApiBusy && !isRemoteRef(conversationModel);

  // "Chat" on a model in the library opens #/chat?model=<id>: a new conversation with that model (another machine's too).
  const requestedModel = new URLSearchParams(useSearch()).get('model');
  const requestReady = listed(requestedModel);
  if (requestReady && (selection.draftModel !== requestedModel || !selection.drafting)) {
    dispatch({ type: 'requested', modelId: requestedModel });
  }
  useEffect(() => {
    if (requestReady) navigate('~/chat?', { replace: true });
  }, [requestReady, navigate]);

  const newChat = useCallback(() => {
    dispatch({ type: 'new', modelId: lastUsedModel });
    composer.current?.focus();
  }, [lastUsedModel]);

  const onModelReady = useCallback((modelId: string) => {
    dispatch({ type: 'model-ready', modelId });
    composer.current?.focus();
  }, []);

  const stop = useCallback(() => {
    if (current) api['chats.stop']({ id: current }).catch((e: unknown) => fail(e, 'Could not stop the reply'));
  }, [api, current, fail]);

  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === 'n') {
        event.preventDefault();
        newChat();
      }
      if (event.key === 'Escape') stop();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [newChat, stop]);

  /** Sends a message and waits for its reply; resolves to the refusal of its files (nothing was sent), or null. */
  const send = async (text: string, parentId: string | null, conversationId = current, extra: SendExtra = {}): Promise<string | null> => {
    const files = extra.attachments ?? [];
    if (!conversationId || (!text.trim() && files.length === 0 && !extra.attachmentsFrom)) return null;
    setError(null);
    resetLive();
    try {
      await api['chats.send']({
        conversationId,
        parentId,
        text: text.trim() ? text : '',
        ...(files.length ? { attachments: files.map((a) => ({ name: a.name, data: a.data })) } : {}),
        ...(extra.attachmentsFrom ? { attachmentsFrom: extra.attachmentsFrom } : {}),
      });
    } catch (e) {
      const refused = refusalOf(e);
      if (refused) return refused;
      fail(e);
    }
    reload(conversationId);
    return null;
  };

  /** A conversation created for a first message: shown once that message is stored (a refused one is deleted unseen). */
  const firstPending = useRef<Conversation | null>(null);
  const showCreated = useCallback(
    (id: string) => {
      const created = firstPending.current;
      if (!created || created.id !== id) return;
      firstPending.current = null;
      setList((l = []) => [
        { id: created.id, title: created.title, pinned: false, updatedAt: created.updatedAt, messageCount: 0, modelId: created.modelId },
        ...l.filter((c) => c.id !== created.id),
      ]);
      dispatch({ type: 'created', id: created.id });
    },
    [setList],
  );
  useHostEvent(
    'onConversationChanged',
    useCallback((changed: { id: string }) => showCreated(changed.id), [showCreated]),
  );

  /** The first message of a new conversation: create it with the chosen model, then send (a refused one leaves no conversation). */
  const sendFirst = async (text: string, attachments: PendingAttachment[]): Promise<string | null> => {
    setError(null);
    try {
      const created = await api['chats.create']({ modelId: newModel, settings: { temperature: 0.7, maxTokens: 512 } });
      firstPending.current = created;
      const refused = await send(text, null, created.id, { attachments });
      if (refused) {
        firstPending.current = null;
        await api['chats.delete']({ id: created.id });
      } else showCreated(created.id);
      return refused;
    } catch (e) {
      fail(e);
      return null;
    }
  };

  /** Documents attached to this conversation (a new chat is created first, with the chosen model, as a first message does). */
  const attachDocuments = async (files: File[]) => {
    if (files.length === 0) return;
    setError(null);
    try {
      let conversationId = current;
      if (!conversationId) {
        const created = await api['chats.create']({ modelId: newModel, settings: { temperature: 0.7, maxTokens: 512 } });
        firstPending.current = created;
        showCreated(created.id);
        conversationId = created.id;
      }
      const problems = await chatDocs.upload(files, conversationId);
      if (problems.length) setError(`Not attached: ${problems.join('; ')}`);
    } catch (e) {
      fail(e, 'Could not attach the documents');
    }
  };

  const modelEntry = models.find((m) => m.id === conversationModel);
  // What the images attached now will cost (a model that does not see refuses them: no estimate).
  const seesNow = mediaOf(modelEntry, engines);
  const pendingImages = {
    count: seesNow.vision ? attached.filter((a) => isImageType(a.mime)).length : 0,
    tokensEach: seesNow.imageTokens,
  };

  const actions: MessageActions = {
    sendEdited: (text, parentId, attachmentsFrom) =>
      void send(text, parentId, current, { attachmentsFrom }).then((refused) => refused && setError(refused)),
    regenerate: (messageId) => {
      if (!current) return;
      api['chats.regenerate']({ conversationId: current, messageId }).catch((e: unknown) => fail(e));
    },
    deleteMessage: (messageId) => {
      api['chats.deleteMessage']({ id: messageId }).then(setDetail, (e: unknown) => fail(e, 'Could not delete the message'));
    },
    showVersion: (messageId) => {
      if (!current || !detail) return;
      api['chats.update']({ id: current, activeLeafId: deepestLeaf(detail.messages, messageId) }).catch((e: unknown) =>
        fail(e, 'Could not show that version'),
      );
    },
    /** "Use a larger context": the conversation's context size, then the failed reply again. */
    retryWithContext: (messageId, contextSize) => {
      if (!current || !detail) return;
      setError(null);
      api['chats.update']({ id: current, settings: { ...detail.conversation.settings, contextSize } })
        .then(() => api['chats.regenerate']({ conversationId: current, messageId }))
        .catch((e: unknown) => fail(e))
        .finally(() => reload(current));
    },
  };

  return (
    <section className="view chat-view" aria-labelledby="chat-title">
      <ConversationList
        conversations={conversations}
        current={current}
        onSelect={(id) => dispatch({ type: 'select', id })}
        onNew={newChat}
        onError={fail}
      />
      <div
        className="chat-main"
        onDragOver={(e) => {
          if (!hasFiles(e)) return;
          e.preventDefault();
          e.dataTransfer.dropEffect = 'copy';
        }}
        onDrop={(e) => {
          if (!hasFiles(e)) return;
          e.preventDefault();
          const files = [...e.dataTransfer.files];
          void attachDocuments(files.filter(isDocumentFile));
          attachMedia.current?.(files.filter((f) => !isDocumentFile(f)));
        }}
      >
        {!detail || !current ? (
          <NewConversation
            models={models}
            machines={machines}
            libraryReady={library.status === 'ready' && machinesQuery.status !== 'loading'}
            model={newModel}
            onModel={(modelId) => dispatch({ type: 'draft-model', modelId })}
            firstRun={selection.firstRun}
            ready={selection.ready}
            onFirstRunStarted={() => dispatch({ type: 'first-run-started' })}
            onModelReady={onModelReady}
            onBrowse={() => navigate('~/models')}
          />
        ) : (
          <>
            <ConversationToolbar
              conversation={detail.conversation}
              models={models}
              machines={machines}
              machinesReady={machinesQuery.status !== 'loading'}
              note={
                <RemoteModelNote modelId={detail.conversation.modelId} machines={machines} ready={machinesQuery.status !== 'loading'} />
              }
              onChanged={() => reload(current)}
              onDeleted={() => dispatch({ type: 'select', id: null })}
              onError={fail}
            />
            <LoadProgress loading={remote ? null : loading} />
            <SystemPrompt conversation={detail.conversation} onError={fail} />
            <Thread
              conversationId={detail.conversation.id}
              messages={detail.messages}
              thread={thread}
              live={live}
              streaming={streaming}
              apiBusy={apiBusy}
              remoteName={remote?.machine.name ?? null}
              actions={actions}
            />
          </>
        )}
        <ContextGauge thread={thread} pendingImages={pendingImages} />
        <ChatDocuments
          conversationId={current}
          documents={chatDocs.documents}
          uploading={chatDocs.uploading}
          collectionIds={chatDocs.collectionIds}
          onCollections={chatDocs.setCollections}
        />
        {error && <p role="alert">{error}</p>}
        <Composer
          ref={composer}
          streaming={streaming}
          onStop={stop}
          onSend={(text, attachments) =>
            current && detail ? send(text, detail.conversation.activeLeafId, current, { attachments }) : sendFirst(text, attachments)
          }
          attachNote={attachNote(conversationModel, models, engines)}
          onAttachmentsChange={setAttached}
          onAttachDocuments={(files) => void attachDocuments(files)}
          attachRef={attachMedia}
          blockedReason={
            current && detail
              ? null
              : library.status !== 'ready'
                ? 'Loading the library…'
                : models.length === 0 && remoteCount === 0
                  ? 'Send is available once a model is in the library: download the one above, or add your own in Models.'
                  : null
          }
        />
      </div>
    </section>
  );
}
