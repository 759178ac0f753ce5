export function ChatView() {
  return (
    <section className="view" aria-labelledby="chat-title">
      <header className="view-header">
        <h1 id="chat-title">Chat</h1>
        <p className="muted">Conversations with the models in your library, kept on this machine.</p>
      </header>
      <div className="empty-state">
        <h2>No conversations yet</h2>
        <p>Add a model in the Models view, then start a conversation with it here.</p>
      </div>
    </section>
  );
}
