// The watcher's public surface, for the agent, `rauta run`/`watch`, `validate --rev` and `plan`.
export { commitToEvents, emptyState, applyDelta, loadState, ParseCache, EMPTY_TREE, type AcceptedState, type CommitResult } from './commit-to-events.js';
export { processNewCommits, commitsToEvents, CommitProcessor, type ProcessResult, type ProcessorOptions } from './process-commits.js';
export { GitStore } from './git-store.js';
export { diffTrees, resolveSubtree, type FileChange } from './tree-diff.js';
export type { TreeReader, TreeEntry, CommitInfo } from './tree-reader.js';
export { startWatcher, isRemote, type Watcher, type WatcherOptions } from './watcher.js';
export { createWebhookHandler, verifySignature, signBody, WEBHOOK_PATH, type RequestHandler } from './webhook.js';
export { openRemoteCache, type RemoteCache } from './remote-cache.js';
