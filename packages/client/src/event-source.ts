/**
 * A server-sent events client (the EventSource interface, as tRPC's httpSubscriptionLink uses
 * it) over fetch, so that it can send headers: the browser's EventSource cannot send an
 * `Authorization` header, and Node.js 20 has no EventSource at all. It reconnects as
 * EventSource does when the stream ends or breaks, sending the id of the last event it received
 * as `Last-Event-ID`, so that the server resumes after it; an answer that is not a stream (an
 * error status) closes it. Uses the global fetch, which streams (imports no Node.js module).
 */

export interface FetchEventSourceInit {
  /** Headers for each connection (called again for each reconnection). */
  headers?: () => Record<string, string> | Promise<Record<string, string>>;
  /** Milliseconds before reconnecting, until the server says otherwise (`retry:`). Default 1000. */
  retryMs?: number;
}

/** An event as listeners get it: a MessageEvent's fields that tRPC reads. */
export interface SourceEvent {
  type: string;
  data: string;
  lastEventId: string;
  /** For an `error` event from an answer that was not a stream: its HTTP status. */
  status?: number;
}

type Listener = (event: SourceEvent) => void;

export class FetchEventSource {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSED = 2;
  readonly CONNECTING = 0;
  readonly OPEN = 1;
  readonly CLOSED = 2;
  readyState = 0;
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly abort = new AbortController();
  private lastEventId = '';
  private retryMs: number;

  constructor(
    readonly url: string,
    private readonly init: FetchEventSourceInit = {},
  ) {
    this.retryMs = init.retryMs ?? 1000;
    // After the constructor returns, so that listeners are added first.
    queueMicrotask(() => void this.run());
  }

  addEventListener(type: string, listener: Listener): void {
    let set = this.listeners.get(type);
    if (!set) this.listeners.set(type, (set = new Set()));
    set.add(listener);
  }

  removeEventListener(type: string, listener: Listener): void {
    this.listeners.get(type)?.delete(listener);
  }

  close(): void {
    this.readyState = this.CLOSED;
    this.abort.abort();
  }

  private dispatch(event: SourceEvent): void {
    for (const listener of [...(this.listeners.get(event.type) ?? [])]) listener(event);
  }

  private async run(): Promise<void> {
    while (this.readyState !== this.CLOSED) {
      try {
        const headers: Record<string, string> = { accept: 'text/event-stream', ...(await this.init.headers?.()) };
        if (this.lastEventId) headers['last-event-id'] = this.lastEventId;
        const response = await fetch(this.url, { headers, signal: this.abort.signal });
        if (!response.ok || !response.body || !response.headers.get('content-type')?.startsWith('text/event-stream')) {
          await response.body?.cancel().catch(() => {});
          if (this.readyState === this.CLOSED) return;
          this.readyState = this.CLOSED;
          this.dispatch({ type: 'error', data: '', lastEventId: this.lastEventId, status: response.status });
          return;
        }
        this.readyState = this.OPEN;
        this.dispatch({ type: 'open', data: '', lastEventId: this.lastEventId });
        await this.read(response.body);
      } catch {
        // The connection broke, or close() aborted it.
      }
      if (this.readyState === this.CLOSED) return;
      this.readyState = this.CONNECTING;
      this.dispatch({ type: 'error', data: '', lastEventId: this.lastEventId });
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.retryMs);
        this.abort.signal.addEventListener('abort', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Reads the stream, dispatching its events, until it ends. */
  private async read(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = '';
    let type = '';
    let data: string[] = [];
    let id = this.lastEventId;
    const reader = body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffer.search(/\r\n|\r|\n/)) >= 0) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + (buffer.startsWith('\r\n', end) ? 2 : 1));
        if (line === '') {
          // The end of an event (see the HTML standard's "dispatch the event").
          this.lastEventId = id;
          if (data.length > 0 && this.readyState !== this.CLOSED) {
            this.dispatch({ type: type || 'message', data: data.join('\n'), lastEventId: this.lastEventId });
          }
          type = '';
          data = [];
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let text = colon < 0 ? '' : line.slice(colon + 1);
        if (text.startsWith(' ')) text = text.slice(1);
        if (field === 'event') type = text;
        else if (field === 'data') data.push(text);
        else if (field === 'id' && !text.includes('\0')) id = text;
        else if (field === 'retry' && /^\d+$/.test(text)) this.retryMs = Number(text);
      }
    }
  }
}
