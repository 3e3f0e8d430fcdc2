/** What `agentix gc` removed (or, with --dry-run, would remove), per backend. */
export interface Removed {
  kind: 'sandbox' | 'carrier' | 'image' | 'secret' | 'snapshot' | 'directory';
  id: string;
  name: string;
  bundle: string;
  /** Where it was: the Docker engine or a Kubernetes namespace. */
  where?: string;
}
