/** Port: who is asking (the API's authenticator says). */
/** Who asks: the API's authenticator (credential registry locally, JWT claims on AWS) says. */
export interface Identity {
  /** PBS user name (Job_Owner without the host) */
  user: string;
  /** OS or directory groups, for queue acl_groups */
  groups: string[];
}
