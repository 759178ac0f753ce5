export function ModelsView() {
  return (
    <section className="view" aria-labelledby="models-title">
      <header className="view-header">
        <h1 id="models-title">Models</h1>
        <p className="muted">Your model library: files you downloaded, imported or keep in your own folders.</p>
      </header>
      <div className="empty-state">
        <h2>No models yet</h2>
        <p>
          Freehold runs GGUF models, such as Qwen, DeepSeek-R1 distills, Llama, Gemma, Mistral and Phi, on this machine.
          Hugging Face search, downloads and importing your own files arrive with the model library.
        </p>
      </div>
    </section>
  );
}
