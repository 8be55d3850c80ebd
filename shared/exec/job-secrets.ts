/**
 * What a job's environment must never carry on a MOM that acts for the site (an ECS task): the
 * task's credentials and the way to fetch them (the SDK's AWS_* variables, among them
 * AWS_CONTAINER_CREDENTIALS_RELATIVE_URI/FULL_URI and AWS_CONTAINER_AUTHORIZATION_TOKEN), the
 * task metadata endpoint (ECS_*), the MOM's report key and the run spec the task was started
 * with. A job's environment is built from its Variable_List only (run-job.ts buildJobEnv), never
 * from the MOM's own, so these could arrive only inside that list (`qsub -V` on a host with AWS
 * variables, or `-v` naming them): they are dropped from the spec before it leaves the server
 * (the ECS executor: overrides are readable by anyone with ecs:DescribeTasks) and again in the
 * task before the job starts.
 *
 * Every AWS_ name goes, not only the known secrets: the SDK reads more of them than any list
 * here would keep up with (profiles, web identity token files, endpoints), and a job that needs
 * AWS of its own brings its own configuration in its files, as it would on a PBS cluster.
 */
import type { JobRunSpec } from "../ports/index.js";

const SECRET_NAME = /^(AWS_|ECS_)|^(MOM_KEY|JOB_SPEC|JOB_SPEC_GZ)$/i;

/** Whether `name` is one a job on a site's task must not see. */
export function isSiteSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
}

/** `env` without the names a job must not see (a new object; `env` is left as it is). */
export function withoutSiteSecrets(env: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (!isSiteSecretName(k)) out[k] = v;
  return out;
}

/** The spec with its Variable_List cleaned of the site's secrets (the same spec when it has none). */
export function specWithoutSiteSecrets<S extends Pick<JobRunSpec, "env">>(spec: S): S {
  if (!Object.keys(spec.env).some(isSiteSecretName)) return spec;
  return { ...spec, env: withoutSiteSecrets(spec.env) };
}
