/** The in-memory adapter of the store ports (the protocol simulator and fast unit tests). */
export {
  inspectStore,
  type MemoryStoreContents,
  type StoredClaim,
  storedAcct,
  storedClaims,
  storedJobs,
  storedPeers,
  storedProjects,
} from "./inspect.js";
export { MemorySiteStore, type MemoryStoreOptions, type StoreOp } from "./store.js";
