import * as diagnosticsChannel from "node:diagnostics_channel";
import type { Http2Session, ServerHttp2Stream } from "node:http2";

/**
 * The HTTP/2 receive window the aggregator grants each connection and each
 * stream: enough for a few batches of ten thousand series (a few hundred
 * kilobytes each) to arrive while a group commits.
 *
 * Why it matters: committing blocks the event loop (SQLite's fsync, the
 * upserts), and only the event loop reads the socket and returns window to
 * the sender. With HTTP/2's default 64 KiB, a batch of some 300 KB arrives in
 * five round trips, each waiting for the commit in progress to end, so the
 * sidecar's next batch stalls behind every commit. With this window it is
 * sent in full and waits here, decoded as soon as the commit ends. It takes
 * no more memory than the messages already may (MAX_MESSAGE_BYTES): the
 * window only lets them arrive sooner.
 */
export const RECEIVE_WINDOW_BYTES = 4 * 1024 * 1024;

/** What Node.js publishes on "http2.server.stream.created". */
interface StreamCreated {
  readonly stream: ServerHttp2Stream;
}

/**
 * Grants `windowBytes` of receive window to every HTTP/2 connection this
 * process serves, and to each of its streams, from the connection's first
 * stream on; returns the function that stops it. grpc-js's server leaves the
 * HTTP/2 settings at Node.js's defaults and offers no option for them, so the
 * connections are found through Node.js's diagnostics channel.
 */
export function widenReceiveWindows(windowBytes: number = RECEIVE_WINDOW_BYTES): () => void {
  const widened = new WeakSet<Http2Session>();
  const onStream = (message: unknown): void => {
    const session = (message as StreamCreated).stream.session;
    if (!session || session.destroyed || session.closed || widened.has(session)) return;
    widened.add(session);
    try {
      // The connection's window, then each stream's: the peer applies a new
      // initial window to its open streams too, so this first stream gains it.
      session.setLocalWindowSize(windowBytes);
      session.settings({ initialWindowSize: windowBytes });
    } catch {
      // A session closing meanwhile: it keeps the default window, which is
      // only slower. What a subscriber throws would end the process.
    }
  };
  diagnosticsChannel.subscribe("http2.server.stream.created", onStream);
  return () => diagnosticsChannel.unsubscribe("http2.server.stream.created", onStream);
}
