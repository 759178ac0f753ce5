import type { ByteSource } from '../formats/gguf-header';

/**
 * A remote file as a ByteSource: each read is one HTTP range request. A
 * server that ignores Range gets its body cut off after the bytes asked for.
 */
export function remoteSource(url: string, size: number, headers: Record<string, string>, fetchImpl: typeof fetch = fetch): ByteSource {
  return {
    size,
    async read(offset, length) {
      const end = Math.min(size, offset + length) - 1;
      const res = await fetchImpl(url, { headers: { ...headers, Range: `bytes=${offset}-${end}` } });
      if (res.status !== 206 && res.status !== 200) throw new Error(`HTTP ${res.status} reading ${url}`);
      const skip = res.status === 200 ? offset : 0;
      const want = end - offset + 1;
      const out = new Uint8Array(want);
      let got = 0;
      let seen = 0;
      const reader = res.body!.getReader();
      while (got < want) {
        const { done, value } = await reader.read();
        if (done) break;
        let chunk = value;
        if (seen + chunk.length <= skip) {
          seen += chunk.length;
          continue;
        }
        if (seen < skip) chunk = chunk.subarray(skip - seen);
        seen = skip;
        const take = Math.min(chunk.length, want - got);
        out.set(chunk.subarray(0, take), got);
        got += take;
      }
      await reader.cancel().catch(() => undefined);
      return out.subarray(0, got);
    },
  };
}
