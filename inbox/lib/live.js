// The live stream (`GET /api/v1/events`), as server-sent events. EventSource reconnects by
// itself and sends `Last-Event-ID`, so nothing is missed across a dropped connection or the
// server's periodic end of a stream.

const KINDS = ["message.created", "message.updated", "conversation.updated", "note.created", "presence.updated", "contact.typing"];

/**
 * Follow the stream with `token`; `handle(kind, payload)` is called for each event and
 * `onState("live" | "connecting", fresh)` when the connection changes. `fresh` is true when a
 * new stream went live without resuming (no `Last-Event-ID`): what happened before it is not
 * on it, so the caller reads its lists again. Returns a function that stops.
 */
export function follow(token, handle, onState) {
  let source = null;
  let stopped = false;
  let retry = null;
  const open = () => {
    if (stopped) return;
    onState("connecting");
    source = new EventSource(`/api/v1/events?access_token=${encodeURIComponent(token)}`);
    // EventSource's own reconnects resume from the last event; only its first open does not.
    let fresh = true;
    source.onopen = () => {
      onState("live", fresh);
      fresh = false;
    };
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
