// The one place the window talks to Rust. Every command is typed with the
// bindings that ts-rs generates from the Rust types (src/lib/bindings).
import { invoke, type InvokeArgs } from '@tauri-apps/api/core';
import { listen, type UnlistenFn } from '@tauri-apps/api/event';
import type { Always } from './bindings/Always';
import type { AppStatus } from './bindings/AppStatus';
import type { Applied } from './bindings/Applied';
import type { CorrectionView } from './bindings/CorrectionView';
import type { EntityKind } from './bindings/EntityKind';
import type { EntityRef } from './bindings/EntityRef';
import type { MatchView } from './bindings/MatchView';
import type { MessageView } from './bindings/MessageView';
import type { PaletteResults } from './bindings/PaletteResults';
import type { SearchQuery } from './bindings/SearchQuery';
import type { ReviewItem } from './bindings/ReviewItem';
import type { SharingLevel } from './bindings/SharingLevel';
import type { Suggestion } from './bindings/Suggestion';
import type { CommandError } from './bindings/CommandError';
import type { DealSummary } from './bindings/DealSummary';
import type { DealTimeline } from './bindings/DealTimeline';
import type { NewImap } from './bindings/NewImap';
import type { NewProvider } from './bindings/NewProvider';
import type { OutboxView } from './bindings/OutboxView';
import type { SourceState } from './bindings/SourceState';
import type { SourceView } from './bindings/SourceView';
import type { CrmView } from './bindings/CrmView';
import type { NewCrm } from './bindings/NewCrm';
import type { Preferences } from './bindings/Preferences';
import type { PushHealth } from './bindings/PushHealth';
import type { ImportSummary } from './bindings/ImportSummary';
import type { ImportProgress } from './bindings/ImportProgress';
import type { Preview } from './bindings/Preview';

export type {
  Always,
  AppStatus,
  Applied,
  CorrectionView,
  EntityKind,
  EntityRef,
  MatchView,
  MessageView,
  PaletteResults,
  ReviewItem,
  SearchQuery,
  SharingLevel,
  Suggestion,
  CommandError,
  DealSummary,
  DealTimeline,
  NewImap,
  NewProvider,
  OutboxView,
  SourceState,
  SourceView,
  CrmView,
  NewCrm,
  Preferences,
  PushHealth,
  ImportSummary,
  ImportProgress,
};

/** Turns whatever a failed call threw into a CommandError. */
export function asCommandError(error: unknown): CommandError {
  if (typeof error === 'object' && error !== null && 'code' in error && 'message' in error) {
    return error as CommandError;
  }
  return { code: 'io', message: String(error) };
}

async function call<T>(
  command: string,
  args?: InvokeArgs,
  options?: { headers: Record<string, string> },
): Promise<T> {
  try {
    return await invoke<T>(command, args, options);
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
  reviewQueue: () => call<ReviewItem[]>('review_queue'),
  matchView: (messageId: number) => call<MatchView>('match_view', { messageId }),
  findEntities: (text: string) => call<EntityRef[]>('find_entities', { text }),
  moveMatch: (
    messageId: number,
    kind: EntityKind,
    entityId: string,
    wholeThread: boolean,
    always: Always | null,
  ) => call<Applied>('move_match', { messageId, kind, entityId, wholeThread, always }),
  acceptSuggestion: (messageId: number, rank: number) =>
    call<Applied>('accept_suggestion', { messageId, rank }),
  ignoreMatch: (messageId: number, wholeThread: boolean) =>
    call<Applied>('ignore_match', { messageId, wholeThread }),
  splitThread: (messageId: number) => call<Applied>('split_thread', { messageId }),
  mergeThreads: (messageId: number, otherId: number) =>
    call<Applied>('merge_threads', { messageId, otherId }),
  undoCorrection: (id: number | null) => call<Applied>('undo_correction', { id }),
  correctionLog: () => call<CorrectionView[]>('correction_log'),
  activityPreview: (messageId: number) =>
    call<Record<string, unknown>>('activity_preview', { messageId }),
  openMessage: (messageId: number, loadImages: boolean) =>
    call<MessageView>('open_message', { messageId, loadImages }),
  paletteSearch: (query: SearchQuery) => call<PaletteResults>('palette_search', { query }),
  trustSenderImages: (address: string) => call<void>('trust_sender_images', { address }),
  setSharingLevel: (kind: EntityKind, id: string, level: SharingLevel | null) =>
    call<void>('set_sharing_level', { kind, id, level }),
  preferences: () => call<Preferences>('preferences'),
  savePreferences: (wanted: Preferences) => call<Preferences>('save_preferences', { wanted }),
  listCrms: () => call<CrmView[]>('list_crms'),
  testCrm: (input: NewCrm) => call<string>('test_crm', { input }),
  addCrm: (input: NewCrm) => call<number>('add_crm', { input }),
  removeCrm: (name: string) => call<boolean>('remove_crm', { name }),
  pushHealth: () => call<PushHealth>('push_health'),
  attachmentPreview: (messageId: number, position: number) =>
    call<Preview | null>('attachment_preview', { messageId, position }),
  saveAttachment: (messageId: number, position: number) =>
    call<string>('save_attachment', { messageId, position }),
  openAttachment: (messageId: number, position: number, confirmed: boolean) =>
    call<string>('open_attachment', { messageId, position, confirmed }),
  importPaths: (paths: string[]) => call<ImportSummary>('import_paths', { paths }),
  /** Sends one picked file's bytes as the request body, its name in a header. */
  importUpload: async (file: File) =>
    call<ImportSummary>('import_upload', new Uint8Array(await file.arrayBuffer()), {
      headers: { 'x-file-name': encodeURIComponent(file.name) },
    }),
  onImportProgress: (handler: (progress: ImportProgress) => void): Promise<UnlistenFn> =>
    listen<ImportProgress>('import-progress', (event) => handler(event.payload)),
  /** Calls `handler` with each background sync update until the returned function is called. */
  onSourceState: (handler: (state: SourceState) => void): Promise<UnlistenFn> =>
    listen<SourceState>('source-state', (event) => handler(event.payload)),
};
