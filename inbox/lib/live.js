// The live stream (`GET /api/v1/events`), as server-sent events. EventSource reconnects by
// itself and sends `Last-Event-ID`, so nothing is missed across a dropped connection or the
// server's periodic end of a stream.

const KINDS = ["message.created", "message.updated", "conversation.updated", "note.created", "presence.updated", "contact.typing"];

/**
 * Follow the stream with `token`; `handle(kind, payload)` is called for each event and
 * `onState("live" | "connecting")` when the connection changes. Returns a function that stops.
 */
export function follow(token, handle, onState) {
  let source = null;
  let stopped = false;
  let retry = null;
  const open = () => {
    if (stopped) return;
    onState("connecting");
    source = new EventSource(`/api/v1/events?access_token=${encodeURIComponent(token)}`);
    source.onopen = () => onState("live");
    source.onerror = () => {
      onState("connecting");
      // EventSource retries on its own unless the server refused (then it is CLOSED).
      if (source.readyState === EventSource.CLOSED) {
        source.close();
        retry = setTimeout(open, 2000);
      }
    };
    for (const kind of KINDS) {
      source.addEventListener(kind, (event) => {
        let payload;
        try {
          payload = JSON.parse(event.data);
        } catch (_) {
          return;
        }
        handle(kind, payload);
      });
    }
  };
  open();
  return () => {
    stopped = true;
    clearTimeout(retry);
    source?.close();
  };
}
