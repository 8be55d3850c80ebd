/**
 * The PBS errors metaqueue answers with: numbers from OpenPBS src/include/pbs_error.h, texts from
 * its pbs_err_to_txt table (src/lib/Liblog/pbs_messages.c). Pure data, used by both sides: the
 * server names the PBS error in its 4xx body, the commands exit with `errno & 0xff` as the C
 * commands do (exit(pbs_errno) truncated by the OS), e.g. PBSE_UNKJOBID 15001 -> 153.
 *
 * Only the errors metaqueue produces are listed; add one here (number and text copied from
 * pbs_error.h and pbs_messages.c) before using it.
 */
export const PBS_ERRORS = {
  UNKJOBID: { errno: 15001, text: "Unknown Job Id" },
  NOATTR: { errno: 15002, text: "Undefined attribute" },
  IVALREQ: { errno: 15004, text: "Invalid request" },
  PERM: { errno: 15007, text: "Unauthorized Request" },
  SYSTEM: { errno: 15010, text: "System error" },
  BADATVAL: { errno: 15014, text: "Illegal attribute or resource value" },
  UNKSIG: { errno: 15013, text: "Unknown/illegal signal name" },
  BADSTATE: { errno: 15016, text: "Request invalid for state of job" },
  UNKQUE: { errno: 15018, text: "Unknown queue" },
  BADCRED: { errno: 15019, text: "Invalid credential" },
  QUNOENB: { errno: 15021, text: "Queue is not enabled" },
  QACESS: { errno: 15022, text: "Access to queue is denied" },
  NOSUP: { errno: 15029, text: "No support for requested service" },
  UNKRESC: { errno: 15035, text: "Unknown resource" },
  EXCQRESC: { errno: 15036, text: "Job violates queue and/or server resource limits" },
  QUENODFLT: { errno: 15037, text: "No default queue specified" },
  NORERUN: { errno: 15038, text: "job is not rerunnable" },
  MOMREJECT: { errno: 15041, text: "Request to MOM failed" },
  RESCUNAV: { errno: 15044, text: "Resource temporarily unavailable" },
  BADDEPEND: { errno: 15054, text: "Invalid Job Dependency" },
  UNKNODE: { errno: 15062, text: "Unknown node " },
  MaxArraySize: { errno: 15107, text: "Array job exceeds server or queue size limit" },
  HISTJOBID: { errno: 15139, text: "Job has finished" },
  JOBSCRIPTMAXSIZE: { errno: 15175, text: "jobscript size exceeded the jobscript_max_size" },
} as const satisfies Record<string, { errno: number; text: string }>;

/** A PBS error's name without its `PBSE_` prefix (`UNKJOBID` is PBSE_UNKJOBID). */
export type PbsErrorName = keyof typeof PBS_ERRORS;

/** The exit status a PBS command ends with for a PBS error number: `pbs_errno & 0xff`. */
export function pbsExitStatus(errno: number): number {
  return errno & 0xff;
}

/** The exit status for a named PBS error (PBSE_UNKQUE -> 170). */
export function pbsExitOf(name: PbsErrorName): number {
  return pbsExitStatus(PBS_ERRORS[name].errno);
}

/** The name of a PBS error number metaqueue knows, else undefined. */
export function pbsErrorName(errno: number): PbsErrorName | undefined {
  for (const [name, e] of Object.entries(PBS_ERRORS)) if (e.errno === errno) return name as PbsErrorName;
  return undefined;
}

export function isPbsErrorName(name: string): name is PbsErrorName {
  return Object.hasOwn(PBS_ERRORS, name);
}
