/**
 * The exchange of the exactly-once crash test lives in the PARENT process (one SimulatedExchange
 * for the whole run, across every child); the runtime lives in a CHILD that is SIGKILLed at random
 * points. They talk over Node's IPC channel (`child_process.fork`):
 *
 *   child  -> parent   { t: 'call', id, op, arg }                        a connector call
 *   parent -> child    { t: 'result', id, ok: true, value }              its answer
 *                      { t: 'result', id, ok: false, kind, message }     a ConnectorError (same kind)
 *                      { t: 'reply', reply }                             a pushed exchange reply
 *
 * Replies produced by a call are pushed before the call's result (the exchange delivers them
 * synchronously inside the call), as a real private stream may well do. A reply pushed while no
 * child is connected, or to a child that was just killed, is lost: reconciliation must cover it.
 *
 * Child side: `IpcExchangeConnector` (an IExecutionConnector). Parent side: `ExchangeServer`
 * (executes forwarded calls on the exchange, forwards replies to the current child) and
 * `MarketDriver` (advances the parent's ManualClock and feeds bars so orders fill).
 */
import type { ChildProcess } from 'node:child_process';
import {
  ConnectorError,
  type ConnectorCapabilities,
  type ConnectorErrorKind,
  type ExchangeOrder,
  type ExchangePosition,
  type ExchangeReply,
  type IExecutionConnector,
  type MarketPrice,
  type ModifyRequest,
  type OrderRef,
  type PlaceRequest,
  type PlaceResult,
} from '../../src/connectors/connector.js';
import type { SimBar, SimulatedExchange } from '../../src/connectors/simulated-exchange.js';
import type { ManualClock } from '../../src/domain/clock.js';
import { SYMBOLS, barFor } from './exactly-once-stream.js';

export type CallOp = 'place' | 'cancel' | 'modify' | 'fetchOrder' | 'fetchOpenOrders' | 'fetchPositions' | 'fetchPrice';

export interface CallMessage {
  readonly t: 'call';
  readonly id: number;
  readonly op: CallOp;
  readonly arg: unknown;
}

export type ResultMessage =
  | { readonly t: 'result'; readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly t: 'result'; readonly id: number; readonly ok: false; readonly kind: ConnectorErrorKind | null; readonly message: string };

export interface ReplyMessage {
  readonly t: 'reply';
  readonly reply: ExchangeReply;
}

export type ToChild = ResultMessage | ReplyMessage;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

export function isCallMessage(m: unknown): m is CallMessage {
  return isObject(m) && m.t === 'call' && typeof m.id === 'number' && typeof m.op === 'string';
}

/** `kind: message` is how ConnectorError spells its message; the kind travels separately. */
function bareMessage(error: ConnectorError): string {
  const prefix = `${error.kind}: `;
  return error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
}

// =================================================================================================
// Child side
// =================================================================================================

interface Pending {
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
  readonly timer: NodeJS.Timeout;
}

/** The parts of `process` the connector needs (so it can be driven without a real channel). */
export interface IpcEndpoint {
  send?: (message: unknown, callback?: (error: Error | null) => void) => boolean;
  readonly connected?: boolean;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
}

/**
 * An IExecutionConnector that forwards every call to the parent and receives the exchange's
 * replies from it. Errors come back as ConnectorError of the same kind, so the runtime's retry
 * and lookup paths see exactly what the exchange threw. `maxWaitMs` bounds a call the parent
 * never answers (the runtime's own per-call timeout is normally shorter).
 */
export class IpcExchangeConnector implements IExecutionConnector {
  readonly name = 'ipc-simulated';
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners = new Set<(reply: ExchangeReply) => void>();
  /** `unheard`: replies that arrived before anyone subscribed (lost, like a stream not yet joined). */
  readonly counts = { calls: 0, errors: 0, replies: 0, unheard: 0 };

  constructor(
    readonly capabilities: ConnectorCapabilities,
    private readonly endpoint: IpcEndpoint = process as unknown as IpcEndpoint,
    private readonly maxWaitMs = 10_000,
  ) {
    endpoint.on('message', this.onMessage);
  }

  /** Stops listening to the channel (lets the process exit). */
  detach(): void {
    this.endpoint.off('message', this.onMessage);
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new ConnectorError('network', `call ${id}: connector detached`));
    }
    this.pending.clear();
  }

  place(request: PlaceRequest): Promise<PlaceResult> {
    return this.request('place', request) as Promise<PlaceResult>;
  }

  async cancel(request: OrderRef): Promise<void> {
    await this.request('cancel', request);
  }

  async modify(request: ModifyRequest): Promise<void> {
    await this.request('modify', request);
  }

  fetchOrder(request: OrderRef): Promise<ExchangeOrder | null> {
    return this.request('fetchOrder', request) as Promise<ExchangeOrder | null>;
  }

  fetchOpenOrders(symbol?: string): Promise<ExchangeOrder[]> {
    return this.request('fetchOpenOrders', { symbol: symbol ?? null }) as Promise<ExchangeOrder[]>;
  }

  fetchPositions(): Promise<ExchangePosition[]> {
    return this.request('fetchPositions', null) as Promise<ExchangePosition[]>;
  }

  fetchPrice(symbol: string): Promise<MarketPrice | null> {
    return this.request('fetchPrice', { symbol }) as Promise<MarketPrice | null>;
  }

  onReply(listener: (reply: ExchangeReply) => void): () => void {
    const wrapped = (reply: ExchangeReply): void => listener(reply);
    this.listeners.add(wrapped);
    return () => {
      this.listeners.delete(wrapped);
    };
  }

  private request(op: CallOp, arg: unknown): Promise<unknown> {
    this.counts.calls++;
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      const send = this.endpoint.send;
      if (typeof send !== 'function' || this.endpoint.connected === false) {
        this.counts.errors++;
        reject(new ConnectorError('network', `${op}: no IPC channel to the exchange`));
        return;
      }
      const timer = setTimeout(() => {
        if (!this.pending.delete(id)) return;
        this.counts.errors++;
        reject(new ConnectorError('timeout', `${op}: no answer from the exchange process within ${this.maxWaitMs} ms`));
      }, this.maxWaitMs);
      this.pending.set(id, { resolve, reject, timer });
      const message: CallMessage = { t: 'call', id, op, arg };
      try {
        send.call(this.endpoint, message, (error) => {
          if (error && this.pending.delete(id)) {
            clearTimeout(timer);
            this.counts.errors++;
            reject(new ConnectorError('network', `${op}: could not send to the exchange process (${error.message})`, { cause: error }));
          }
        });
      } catch (error) {
        if (this.pending.delete(id)) {
          clearTimeout(timer);
          this.counts.errors++;
          reject(new ConnectorError('network', `${op}: could not send to the exchange process`, { cause: error }));
        }
      }
    });
  }

  private readonly onMessage = (message: unknown): void => {
    if (!isObject(message)) return;
    if (message.t === 'reply') {
      const reply = (message as unknown as ReplyMessage).reply;
      this.counts.replies++;
      if (this.listeners.size === 0) this.counts.unheard++;
      for (const l of [...this.listeners]) l(reply);
      return;
    }
    if (message.t !== 'result') return;
    const m = message as unknown as ResultMessage;
    const p = this.pending.get(m.id);
    if (!p) return; // answered after our own timeout gave up on it
    this.pending.delete(m.id);
    clearTimeout(p.timer);
    if (m.ok) {
      p.resolve(m.value);
    } else {
      this.counts.errors++;
      p.reject(m.kind === null ? new Error(m.message) : new ConnectorError(m.kind, m.message));
    }
  };
}

// =================================================================================================
// Parent side
// =================================================================================================

export interface ServerStats {
  calls: Record<string, number>;
  callErrors: Record<string, number>;
  /** Results that could not be sent (the caller was already dead). */
  resultsLost: number;
  repliesForwarded: number;
  /** Replies produced while no live child was connected (or whose send failed). */
  repliesLost: number;
  /** Placements refused as duplicate_client_order_id: the runtime sent a known order again. */
  duplicatePlacements: { clientOrderId: string; message: string }[];
}

/**
 * Owns nothing but a reference to the one exchange of the run: executes the calls of whichever
 * child is attached and forwards the exchange's replies to the child attached now.
 */
export class ExchangeServer {
  private current: ChildProcess | undefined;
  readonly stats: ServerStats = { calls: {}, callErrors: {}, resultsLost: 0, repliesForwarded: 0, repliesLost: 0, duplicatePlacements: [] };
  private readonly unsubscribe: () => void;

  /**
   * `requestDelayMs` is network latency on the way in: a forwarded call reaches the exchange only
   * after it (market data and other calls may act on the exchange meanwhile), as on a real link.
   */
  constructor(
    readonly exchange: SimulatedExchange,
    private readonly requestDelayMs: (op: CallOp) => number = () => 0,
  ) {
    this.unsubscribe = exchange.onReply((reply) => this.push(reply));
  }

  /**
   * Serves `child`'s connector calls from now on and makes it the receiver of pushed replies.
   * Every other message of the child goes to `onOther`.
   */
  attach(child: ChildProcess, onOther: (message: unknown) => void): void {
    this.current = child;
    child.on('message', (message: unknown) => {
      if (isCallMessage(message)) void this.handle(child, message);
      else onOther(message);
    });
  }

  /** No more replies for `child` (it is dead or about to be). */
  detach(child: ChildProcess): void {
    if (this.current === child) this.current = undefined;
  }

  close(): void {
    this.current = undefined;
    this.unsubscribe();
  }

  private push(reply: ExchangeReply): void {
    const child = this.current;
    if (!child || !child.connected) {
      this.stats.repliesLost++;
      return;
    }
    const message: ReplyMessage = { t: 'reply', reply };
    try {
      child.send(message, (error) => {
        if (error) this.stats.repliesLost++;
      });
      this.stats.repliesForwarded++;
    } catch {
      this.stats.repliesLost++;
    }
  }

  private async handle(child: ChildProcess, m: CallMessage): Promise<void> {
    const delay = this.requestDelayMs(m.op);
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
    let result: ResultMessage;
    try {
      result = { t: 'result', id: m.id, ok: true, value: (await this.invoke(m.op, m.arg)) ?? null };
    } catch (error) {
      result = {
        t: 'result',
        id: m.id,
        ok: false,
        kind: error instanceof ConnectorError ? error.kind : null,
        message: error instanceof ConnectorError ? bareMessage(error) : error instanceof Error ? `${error.name}: ${error.message}` : String(error),
      };
    }
    if (!child.connected) {
      this.stats.resultsLost++;
      return;
    }
    try {
      child.send(result, (error) => {
        if (error) this.stats.resultsLost++;
      });
    } catch {
      this.stats.resultsLost++;
    }
  }

  /**
   * The exchange as a connector for a runtime in this process (after the last child is dead):
   * the same calls, counted the same way; replies come straight from the exchange.
   */
  direct(): IExecutionConnector {
    const x = this.exchange;
    return {
      name: x.name,
      capabilities: x.capabilities,
      place: (r) => this.invoke('place', r) as Promise<PlaceResult>,
      cancel: async (r) => void (await this.invoke('cancel', r)),
      modify: async (r) => void (await this.invoke('modify', r)),
      fetchOrder: (r) => this.invoke('fetchOrder', r) as Promise<ExchangeOrder | null>,
      fetchOpenOrders: (symbol) => this.invoke('fetchOpenOrders', { symbol: symbol ?? null }) as Promise<ExchangeOrder[]>,
      fetchPositions: () => this.invoke('fetchPositions', null) as Promise<ExchangePosition[]>,
      fetchPrice: (symbol) => this.invoke('fetchPrice', { symbol }) as Promise<MarketPrice | null>,
      onReply: (listener) => x.onReply(listener),
    };
  }

  /** What happened to each order's calls, in order (`op:ok` or `op:<error kind>`), for diagnostics. */
  readonly trace = new Map<string, string[]>();

  private note(arg: unknown, entry: string): void {
    const clientOrderId = isObject(arg) && typeof arg.clientOrderId === 'string' ? arg.clientOrderId : null;
    if (clientOrderId === null) return;
    const list = this.trace.get(clientOrderId) ?? [];
    list.push(entry);
    this.trace.set(clientOrderId, list);
  }

  /** One call on the exchange, with its statistics. */
  private async invoke(op: CallOp, arg: unknown): Promise<unknown> {
    this.stats.calls[op] = (this.stats.calls[op] ?? 0) + 1;
    try {
      const value = await this.dispatch(op, arg);
      this.note(arg, `${op}:ok${op === 'fetchOrder' ? `(${value === null ? 'null' : (value as ExchangeOrder).status})` : ''}`);
      return value;
    } catch (error) {
      const kind = error instanceof ConnectorError ? error.kind : 'other';
      this.note(arg, `${op}:${kind}${error instanceof ConnectorError && /applied/.test(error.message) && !/not applied/.test(error.message) ? '(applied)' : ''}`);
      this.stats.callErrors[kind] = (this.stats.callErrors[kind] ?? 0) + 1;
      if (kind === 'duplicate_client_order_id' || (error instanceof ConnectorError && error.cause instanceof ConnectorError && error.cause.kind === 'duplicate_client_order_id')) {
        this.stats.duplicatePlacements.push({ clientOrderId: isObject(arg) ? String(arg.clientOrderId) : '?', message: (error as Error).message });
      }
      throw error;
    }
  }

  private dispatch(op: CallOp, arg: unknown): Promise<unknown> {
    const x = this.exchange;
    switch (op) {
      case 'place':
        return x.place(arg as PlaceRequest);
      case 'cancel':
        return x.cancel(arg as OrderRef);
      case 'modify':
        return x.modify(arg as ModifyRequest);
      case 'fetchOrder':
        return x.fetchOrder(arg as OrderRef);
      case 'fetchOpenOrders': {
        const symbol = isObject(arg) && typeof arg.symbol === 'string' ? arg.symbol : undefined;
        return x.fetchOpenOrders(symbol);
      }
      case 'fetchPositions':
        return x.fetchPositions();
      case 'fetchPrice':
        return x.fetchPrice(isObject(arg) ? String(arg.symbol) : '');
      default:
        return Promise.reject(new ConnectorError('invalid_order', `unknown connector call ${String(op)}`));
    }
  }
}

/**
 * Market data for the run: every `intervalMs` the parent's clock advances by `stepMs` and each
 * symbol gets one bar (see `barFor`), so market orders fill on the next bar and limit orders
 * when the price comes to them.
 */
export class MarketDriver {
  private timer: NodeJS.Timeout | undefined;
  bars = 0;
  /** The first error a bar raised (the exchange's bug, or a bad bar). */
  error: unknown;

  constructor(
    private readonly exchange: SimulatedExchange,
    private readonly clock: ManualClock,
    private readonly stepMs = 60_000,
  ) {}

  start(intervalMs = 20): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), intervalMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One step: advance the clock and feed a bar per symbol. */
  tick(): void {
    this.clock.advance(this.stepMs);
    const n = this.bars++;
    for (const { symbol } of SYMBOLS) {
      const bar: SimBar = { at: this.clock.now(), ...barFor(symbol, n) };
      try {
        this.exchange.onBar(symbol, bar);
      } catch (error) {
        this.error ??= error;
      }
    }
  }
}
