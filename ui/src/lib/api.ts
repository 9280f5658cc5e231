// The one place the window talks to Rust. Every command is typed with the
// bindings that ts-rs generates from the Rust types (src/lib/bindings).
import { invoke } from '@tauri-apps/api/core';
import { listen, type UnlistenFn } from '@tauri-apps/api/event';
import type { AppStatus } from './bindings/AppStatus';
import type { CommandError } from './bindings/CommandError';
import type { DealSummary } from './bindings/DealSummary';
import type { DealTimeline } from './bindings/DealTimeline';
import type { NewImap } from './bindings/NewImap';
import type { NewProvider } from './bindings/NewProvider';
import type { OutboxView } from './bindings/OutboxView';
import type { SourceState } from './bindings/SourceState';
import type { SourceView } from './bindings/SourceView';

export type {
  AppStatus,
  CommandError,
  DealSummary,
  DealTimeline,
  NewImap,
  NewProvider,
  OutboxView,
  SourceState,
  SourceView,
};

/** Turns whatever a failed call threw into a CommandError. */
export function asCommandError(error: unknown): CommandError {
  if (typeof error === 'object' && error !== null && 'code' in error && 'message' in error) {
    return error as CommandError;
  }
  return { code: 'io', message: String(error) };
}

async function call<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (error) {
    throw asCommandError(error);
  }
}

export const api = {
  appStatus: () => call<AppStatus>('app_status'),
  listDeals: () => call<DealSummary[]>('list_deals'),
  dealTimeline: (dealId: string) => call<DealTimeline>('deal_timeline', { dealId }),
  listSources: () => call<SourceView[]>('list_sources'),
  sourceStates: () => call<SourceState[]>('source_states'),
  testProviderSource: (input: NewProvider) => call<string>('test_provider_source', { input }),
  testImapSource: (input: NewImap) => call<string>('test_imap_source', { input }),
  addProviderSource: (input: NewProvider) => call<void>('add_provider_source', { input }),
  addImapSource: (input: NewImap) => call<void>('add_imap_source', { input }),
  removeSource: (name: string) => call<void>('remove_source', { name }),
  outboxView: () => call<OutboxView>('outbox_view'),
  outboxRetry: (id: number | null) => call<number>('outbox_retry', { id }),
  outboxReplay: (id: number | null) => call<number>('outbox_replay', { id }),
  /** Calls `handler` with each background sync update until the returned function is called. */
  onSourceState: (handler: (state: SourceState) => void): Promise<UnlistenFn> =>
    listen<SourceState>('source-state', (event) => handler(event.payload)),
};
