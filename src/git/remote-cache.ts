// A remote repository mirrored into a local bare cache dir over smart HTTP
// (isomorphic-git fetch). The watcher then reads commits from the cache like
// from any local repository, following refs/remotes/origin/<branch>.
// Credentials never reach the cache's config: the remote is recorded without
// userinfo and the credentials go in the Authorization header of each fetch.
import fs from 'node:fs';
import git from 'isomorphic-git';
import http from 'isomorphic-git/http/node';
import { RautaError } from '../errors.js';
import { authorizationHeader, redactUrls, splitRepoUrl, type GitCredentials } from './git-credentials.js';

export interface RemoteCache {
  gitdir: string;
  /** the ref the cache tracks for the branch */
  trackingRef: string;
  /** fetch the branch; returns the fetched head sha */
  fetch(): Promise<string>;
}

export async function openRemoteCache(opts: { url: string; branch: string; cacheDir: string; credentials?: GitCredentials | null }): Promise<RemoteCache> {
  const { branch, cacheDir } = opts;
  const { url, credentials: fromUrl } = splitRepoUrl(opts.url);
  const credentials = opts.credentials ?? fromUrl;
  const headers: Record<string, string> = credentials ? { Authorization: authorizationHeader(credentials) } : {};
  try {
    if (!fs.existsSync(`${cacheDir}/HEAD`)) {
      fs.mkdirSync(cacheDir, { recursive: true });
      await git.init({ fs, gitdir: cacheDir, bare: true, defaultBranch: branch });
    }
    await git.addRemote({ fs, gitdir: cacheDir, remote: 'origin', url, force: true });
  } catch (err) {
    throw new RautaError('RAUTA_ERR_GIT', `cannot prepare the Git cache ${cacheDir}: ${redactUrls((err as Error).message)}`, { cause: err });
  }
  const cache = {};
  return {
    gitdir: cacheDir,
    trackingRef: `refs/remotes/origin/${branch}`,
    async fetch() {
      try {
        const result = await git.fetch({
          fs,
          http,
          gitdir: cacheDir,
          remote: 'origin',
          ref: branch,
          singleBranch: true,
          headers,
          tags: false,
          // a force-push must move the tracking ref too: the processor detects the rewrite
          prune: false,
          cache,
        });
        if (!result.fetchHead) throw new Error(`branch ${branch} not found on the remote`);
        // isomorphic-git only fast-forwards tracking refs it knows; write it so force-pushes land.
        await git.writeRef({ fs, gitdir: cacheDir, ref: `refs/remotes/origin/${branch}`, value: result.fetchHead, force: true });
        return result.fetchHead;
      } catch (err) {
        const status = (err as { data?: { statusCode?: number } }).data?.statusCode;
        const hint =
          status === 401 || status === 403
            ? 'check the credentials (RAUTA_GIT_PASSWORD or --git-password-file)'
            : 'check the URL and that the server is reachable';
        throw new RautaError('RAUTA_ERR_GIT', `fetch ${url} (branch ${branch}) failed: ${redactUrls((err as Error).message)}; ${hint}`, { cause: err });
      }
    },
  };
}
