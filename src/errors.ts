// Every error rauta raises on purpose is a RautaError with a stable code.
// ERROR_CODES is the one table of codes; test/errors.test.ts checks that the
// table, the code in use, and docs/errors.md agree.

export const ERROR_CODES = {
  RAUTA_ERR_BPF_SYSCALL: 'A bpf() syscall or libbpf call failed; the errno is kept.',
  RAUTA_ERR_BPF_PERMISSION: 'The kernel refused a BPF operation: run as root (CAP_BPF, CAP_NET_ADMIN).',
  RAUTA_ERR_BPF_NO_BPFFS: 'The pin directory is not on a bpffs mount.',
  RAUTA_ERR_BPF_PIN_DIR_BUSY: 'Another running process owns the pin directory (its pid is named); stop it or give this one another --pin-dir.',
  RAUTA_ERR_BPF_LOAD: 'The BPF object could not be opened or loaded (verifier log attached).',
  RAUTA_ERR_BPF_MAP_MISMATCH: 'A pinned map has another type, key size or value size than the program expects.',
  RAUTA_ERR_BPF_ATTACH: 'The XDP program could not be attached to or detached from an interface.',
  RAUTA_ERR_CODEC_RANGE: 'A value does not fit the map layout (out-of-range field or wrong buffer size).',
  RAUTA_ERR_ROUTES_INVALID: 'Route definitions failed validation; each error names file:line:col.',
  RAUTA_ERR_ROUTES_READ: 'A route file or directory could not be read.',
  RAUTA_ERR_LOG_CORRUPT: 'The event log is corrupt before its tail.',
  RAUTA_ERR_LOG_LOCKED: 'Another writer holds the event log.',
  RAUTA_ERR_LOG_SEQUENCE: 'An append would break the gap-free sequence.',
  RAUTA_ERR_LOG_BACKEND: 'The event log backend is unreachable or misconfigured.',
  RAUTA_ERR_STATE_SNAPSHOT: 'A desired-state snapshot is unreadable or corrupt; the message names the file.',
  RAUTA_ERR_LOG_INVALID_EVENT: 'An event handed to append does not match its schema; nothing was appended.',
  RAUTA_ERR_GIT: 'A Git operation failed (repository, ref, fetch).',
  RAUTA_ERR_APPLY_FAILED: 'A map write failed; the transaction was rolled back.',
  RAUTA_ERR_USAGE: 'The command line is invalid.',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class RautaError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'RautaError';
  }
}

/** A kernel/libbpf status with its errno kept (see src/dataplane/libbpf.ts). */
export class BpfError extends RautaError {
  readonly errno: number;
  constructor(code: ErrorCode, message: string, errno: number, options?: { cause?: unknown }) {
    super(code, message, options);
    this.errno = errno;
    this.name = 'BpfError';
  }
}
