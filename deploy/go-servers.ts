// The Go servers Weft starts beside its own components (nats-server, and FerretDB when no MongoDB is given).
import { availableParallelism } from "node:os";

/**
 * The GOMAXPROCS such a server runs with: `configured` (WEFT_NATS_GOMAXPROCS, WEFT_FERRETDB_GOMAXPROCS) when above
 * 0, else half the host's cores, at least 1. The server shares its host with the gateway, the agent and the
 * containers; with a P for every core, the Go scheduler wakes an idle one (a futex wake, then a futex wait) for most
 * goroutines it readies, and its monitor polls all the while: 18 to 20 % of nats-server's CPU samples on a 2-core
 * host under load. With one P on that host, nats-server took 0.218 / 0.232 ms per warm call against 0.287 / 0.270 ms
 * (medians, python3 / nodejs, 64 clients, five rounds alternating), and FerretDB a tenth to a quarter less per
 * stored record (README, Performance).
 */
export function serverGoMaxProcs(configured = 0, cores = availableParallelism()): number {
  return configured > 0 ? configured : Math.max(1, Math.floor(cores / 2));
}
