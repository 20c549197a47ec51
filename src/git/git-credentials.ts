// Credentials for a remote routes repository, kept out of everything shown or
// stored. A token may arrive in the URL (https://user:TOKEN@host/...), but the
// URL rauta keeps, logs, serves on /status and writes into the git cache's
// config is the one without it; the token only travels in the Authorization
// header of the fetch. The way that never puts the token in a URL (or in `ps`):
// RAUTA_GIT_PASSWORD, or a file named by --git-password-file, with
// RAUTA_GIT_USERNAME when the server wants a particular user.
import { readFileSync } from 'node:fs';
import { RautaError } from '../errors.js';

export interface GitCredentials {
  username: string;
  password: string;
}

/** Username sent with a token when neither the URL nor RAUTA_GIT_USERNAME names one (GitHub and GitLab accept any). */
const DEFAULT_USERNAME = 'rauta';

/** `url` without its userinfo (user:password@); anything that is not a URL comes back as is. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.username === '' && u.password === '') return url;
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return url;
  }
}

/** Every scheme://user[:password]@ in free text (error messages of libraries) with the userinfo dropped. */
export function redactUrls(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@]*@/gi, '$1');
}

/** Splits the userinfo off an http(s) URL. */
export function splitRepoUrl(repo: string): { url: string; credentials: GitCredentials | null } {
  let u: URL;
  try {
    u = new URL(repo);
  } catch {
    return { url: repo, credentials: null };
  }
  if (u.username === '' && u.password === '') return { url: repo, credentials: null };
  // As git sends them: https://TOKEN@host is a username without a password, which GitHub takes as a token.
  return { url: redactUrl(repo), credentials: { username: decodeURIComponent(u.username), password: decodeURIComponent(u.password) } };
}

export interface CredentialSources {
  /** credentials found in the --repo URL */
  fromUrl: GitCredentials | null;
  /** --git-password-file */
  passwordFile?: string;
  env?: NodeJS.ProcessEnv;
}

/**
 * The credentials to fetch with: a password file or RAUTA_GIT_PASSWORD first,
 * then the URL's userinfo. Null: fetch without authentication.
 */
export function resolveGitCredentials(src: CredentialSources): GitCredentials | null {
  const env = src.env ?? process.env;
  let password: string | null = null;
  if (src.passwordFile !== undefined) {
    try {
      password = readFileSync(src.passwordFile, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw new RautaError('RAUTA_ERR_USAGE', `--git-password-file ${src.passwordFile}: cannot read it (${(err as NodeJS.ErrnoException).code ?? 'error'})`, {
        cause: err,
      });
    }
    if (password === '') throw new RautaError('RAUTA_ERR_USAGE', `--git-password-file ${src.passwordFile} is empty`);
  } else if (env.RAUTA_GIT_PASSWORD) {
    password = env.RAUTA_GIT_PASSWORD;
  }
  if (password === null) return src.fromUrl;
  return { username: env.RAUTA_GIT_USERNAME || src.fromUrl?.username || DEFAULT_USERNAME, password };
}

/** The Authorization header for smart HTTP (Basic, as git sends it). */
export function authorizationHeader(c: GitCredentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
}
