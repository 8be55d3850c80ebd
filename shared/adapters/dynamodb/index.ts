/**
 * The DynamoDB adapter of every store port (shared/ports/store.ts): one table per site
 * (table.ts), one object implementing SiteStore. Each port's methods live in the module named
 * for what it holds; this class only composes them, so every part shares the one client and
 * table and a caller (or a test wrapping one method) sees a single store.
 *
 *   jobs.ts            jobs, dependency edges, the job sequence     (JobStore)
 *   job-indexes.ts     ready/run/list/wait index reads, job pages   (JobStore)
 *   script-leases.ts   active jobs' script leases, their renewal    (JobStore)
 *   server-objects.ts  qmgr objects, cycle reports, stat samples    (ServerObjectStore)
 *   moms.ts            MOM heartbeats and boots                     (MomStore)
 *   transfers.ts       transfers received, peers seen, msg claims   (TransferStore)
 *   ledger.ts          projects, accounting, audit                  (Ledger)
 *   items.ts / indexes.ts / table.ts   item shapes, index attributes, key schema
 */
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import type {
  JobStore,
  Ledger,
  MomStore,
  ServerObjectStore,
  SiteStore,
  TransferStore,
} from "../../ports/store.js";
import { DynamoJobIndexes } from "./job-indexes.js";
import { DynamoJobs, type PlainGroupWrites } from "./jobs.js";
import { DynamoLedger } from "./ledger.js";
import { DynamoMoms } from "./moms.js";
import { DynamoScriptLeases } from "./script-leases.js";
import { DynamoServerObjects } from "./server-objects.js";
import { DynamoTransfers } from "./transfers.js";

export type { PlainGroupWrites } from "./jobs.js";

export interface DynamoStoreOptions {
  /** how a group of plain job writes is sent (default "singles", AWS's choice): jobs.ts */
  plainGroups?: PlainGroupWrites;
}

export class DynamoSiteStore implements SiteStore {
  private readonly jobs: DynamoJobs;
  private readonly jobIndexes: DynamoJobIndexes;
  private readonly scripts: DynamoScriptLeases;
  private readonly objects: DynamoServerObjects;
  private readonly moms: DynamoMoms;
  private readonly transfers: DynamoTransfers;
  private readonly ledger: DynamoLedger;

  constructor(
    readonly doc: DynamoDBDocumentClient,
    readonly table: string,
    opts: DynamoStoreOptions = {},
  ) {
    this.jobs = new DynamoJobs(doc, table, opts.plainGroups);
    this.jobIndexes = new DynamoJobIndexes(doc, table);
    this.scripts = new DynamoScriptLeases(doc, table);
    this.objects = new DynamoServerObjects(doc, table);
    this.moms = new DynamoMoms(doc, table);
    this.transfers = new DynamoTransfers(doc, table);
    this.ledger = new DynamoLedger(doc, table);
  }

  // Each method takes its port's own parameter types, so the delegation cannot drift from the
  // port; the parts are private so no caller comes to depend on how the adapter is cut.

  // ---------- jobs (jobs.ts) ----------
  jobItemBytes(...a: Parameters<JobStore["jobItemBytes"]>) {
    return this.jobs.jobItemBytes(...a);
  }
  getJob(...a: Parameters<JobStore["getJob"]>) {
    return this.jobs.getJob(...a);
  }
  getJobs(...a: Parameters<JobStore["getJobs"]>) {
    return this.jobs.getJobs(...a);
  }
  getJobWithEdges(...a: Parameters<JobStore["getJobWithEdges"]>) {
    return this.jobs.getJobWithEdges(...a);
  }
  getJobAndEdge(...a: Parameters<JobStore["getJobAndEdge"]>) {
    return this.jobs.getJobAndEdge(...a);
  }
  createJob(...a: Parameters<JobStore["createJob"]>) {
    return this.jobs.createJob(...a);
  }
  updateJob(...a: Parameters<JobStore["updateJob"]>) {
    return this.jobs.updateJob(...a);
  }
  purgeJob(...a: Parameters<JobStore["purgeJob"]>) {
    return this.jobs.purgeJob(...a);
  }
  writeJobs(...a: Parameters<JobStore["writeJobs"]>) {
    return this.jobs.writeJobs(...a);
  }
  transactJobs(...a: Parameters<JobStore["transactJobs"]>) {
    return this.jobs.transactJobs(...a);
  }
  addEdge(...a: Parameters<JobStore["addEdge"]>) {
    return this.jobs.addEdge(...a);
  }
  deleteEdge(...a: Parameters<JobStore["deleteEdge"]>) {
    return this.jobs.deleteEdge(...a);
  }
  reserveSeq(...a: Parameters<JobStore["reserveSeq"]>) {
    return this.jobs.reserveSeq(...a);
  }

  // ---------- script leases (script-leases.ts) ----------
  scriptLeases(...a: Parameters<JobStore["scriptLeases"]>) {
    return this.scripts.scriptLeases(...a);
  }
  renewScriptLease(...a: Parameters<JobStore["renewScriptLease"]>) {
    return this.scripts.renewScriptLease(...a);
  }
  scriptLeaseFloor() {
    return this.scripts.scriptLeaseFloor();
  }
  lowerScriptLeaseFloor(...a: Parameters<JobStore["lowerScriptLeaseFloor"]>) {
    return this.scripts.lowerScriptLeaseFloor(...a);
  }

  // ---------- job index reads (job-indexes.ts) ----------
  queryReady(...a: Parameters<JobStore["queryReady"]>) {
    return this.jobIndexes.queryReady(...a);
  }
  queryRunning(...a: Parameters<JobStore["queryRunning"]>) {
    return this.jobIndexes.queryRunning(...a);
  }
  listJobs(...a: Parameters<JobStore["listJobs"]>) {
    return this.jobIndexes.listJobs(...a);
  }
  listSubjobs(...a: Parameters<JobStore["listSubjobs"]>) {
    return this.jobIndexes.listSubjobs(...a);
  }
  finishedSubjobs(...a: Parameters<JobStore["finishedSubjobs"]>) {
    return this.jobIndexes.finishedSubjobs(...a);
  }
  queryWaiting(...a: Parameters<JobStore["queryWaiting"]>) {
    return this.jobIndexes.queryWaiting(...a);
  }
  listJobPage(...a: Parameters<JobStore["listJobPage"]>) {
    return this.jobIndexes.listJobPage(...a);
  }

  // ---------- server objects (server-objects.ts) ----------
  getServerObjects(...a: Parameters<ServerObjectStore["getServerObjects"]>) {
    return this.objects.getServerObjects(...a);
  }
  putServerObject(...a: Parameters<ServerObjectStore["putServerObject"]>) {
    return this.objects.putServerObject(...a);
  }
  deleteServerObject(...a: Parameters<ServerObjectStore["deleteServerObject"]>) {
    return this.objects.deleteServerObject(...a);
  }
  getIntake() {
    return this.objects.getIntake();
  }
  putIntake(...a: Parameters<ServerObjectStore["putIntake"]>) {
    return this.objects.putIntake(...a);
  }
  putCycleReport(...a: Parameters<ServerObjectStore["putCycleReport"]>) {
    return this.objects.putCycleReport(...a);
  }
  getCycleReports(...a: Parameters<ServerObjectStore["getCycleReports"]>) {
    return this.objects.getCycleReports(...a);
  }
  putStatSample(...a: Parameters<ServerObjectStore["putStatSample"]>) {
    return this.objects.putStatSample(...a);
  }
  getStatSamples(...a: Parameters<ServerObjectStore["getStatSamples"]>) {
    return this.objects.getStatSamples(...a);
  }

  // ---------- MOMs (moms.ts) ----------
  putMomBeat(...a: Parameters<MomStore["putMomBeat"]>) {
    return this.moms.putMomBeat(...a);
  }
  dropMomBeat(...a: Parameters<MomStore["dropMomBeat"]>) {
    return this.moms.dropMomBeat(...a);
  }
  getMomBeats(...a: Parameters<MomStore["getMomBeats"]>) {
    return this.moms.getMomBeats(...a);
  }
  putMomBoot(...a: Parameters<MomStore["putMomBoot"]>) {
    return this.moms.putMomBoot(...a);
  }
  putMomConnection(...a: Parameters<MomStore["putMomConnection"]>) {
    return this.moms.putMomConnection(...a);
  }
  getMomConnection(...a: Parameters<MomStore["getMomConnection"]>) {
    return this.moms.getMomConnection(...a);
  }
  momOfConnection(...a: Parameters<MomStore["momOfConnection"]>) {
    return this.moms.momOfConnection(...a);
  }
  dropMomConnection(...a: Parameters<MomStore["dropMomConnection"]>) {
    return this.moms.dropMomConnection(...a);
  }

  // ---------- transfers and peers (transfers.ts) ----------
  queryTransfers(...a: Parameters<TransferStore["queryTransfers"]>) {
    return this.transfers.queryTransfers(...a);
  }
  getTransfer(...a: Parameters<TransferStore["getTransfer"]>) {
    return this.transfers.getTransfer(...a);
  }
  createInbound(...a: Parameters<TransferStore["createInbound"]>) {
    return this.transfers.createInbound(...a);
  }
  abortInbound(...a: Parameters<TransferStore["abortInbound"]>) {
    return this.transfers.abortInbound(...a);
  }
  putPeerSeen(...a: Parameters<TransferStore["putPeerSeen"]>) {
    return this.transfers.putPeerSeen(...a);
  }
  getPeersSeen(...a: Parameters<TransferStore["getPeersSeen"]>) {
    return this.transfers.getPeersSeen(...a);
  }
  claimPeerMessage(...a: Parameters<TransferStore["claimPeerMessage"]>) {
    return this.transfers.claimPeerMessage(...a);
  }

  // ---------- ledger (ledger.ts) ----------
  getProject(...a: Parameters<Ledger["getProject"]>) {
    return this.ledger.getProject(...a);
  }
  listProjects(...a: Parameters<Ledger["listProjects"]>) {
    return this.ledger.listProjects(...a);
  }
  setAllocation(...a: Parameters<Ledger["setAllocation"]>) {
    return this.ledger.setAllocation(...a);
  }
  chargeUsage(...a: Parameters<Ledger["chargeUsage"]>) {
    return this.ledger.chargeUsage(...a);
  }
  putAcct(...a: Parameters<Ledger["putAcct"]>) {
    return this.ledger.putAcct(...a);
  }
  putAccts(...a: Parameters<Ledger["putAccts"]>) {
    return this.ledger.putAccts(...a);
  }
  settleEnds(...a: Parameters<Ledger["settleEnds"]>) {
    return this.ledger.settleEnds(...a);
  }
  ensureAcct(...a: Parameters<Ledger["ensureAcct"]>) {
    return this.ledger.ensureAcct(...a);
  }
  listAcct(...a: Parameters<Ledger["listAcct"]>) {
    return this.ledger.listAcct(...a);
  }
  putAudit(...a: Parameters<Ledger["putAudit"]>) {
    return this.ledger.putAudit(...a);
  }
  listAudit(...a: Parameters<Ledger["listAudit"]>) {
    return this.ledger.listAudit(...a);
  }
  jobAudit(...a: Parameters<Ledger["jobAudit"]>) {
    return this.ledger.jobAudit(...a);
  }
}
