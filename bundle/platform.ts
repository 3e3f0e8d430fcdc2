/**
 * Platforms: the portable build copies the build host's own node and shared
 * libraries, so it can only produce an image for the host's platform.
 */
const NODE_TO_OCI: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
const ALIASES: Record<string, string> = { x86_64: 'amd64', x64: 'amd64', aarch64: 'arm64' };

export interface Platform {
  os: string;
  architecture: string;
}

export function hostPlatform(): Platform {
  const architecture = NODE_TO_OCI[process.arch];
  if (process.platform !== 'linux' || !architecture) throw new Error(`agentix build runs on Linux hosts only (this is ${process.platform}/${process.arch})`);
  return { os: 'linux', architecture };
}

export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}`;
}

/** Parses `os/arch[/variant]` (or bare `arch`, meaning linux) and refuses anything but the host's platform. */
export function checkPlatform(requested: string | undefined): Platform {
  const host = hostPlatform();
  if (requested === undefined || requested === '') return host;
  const parts = requested.trim().toLowerCase().split('/');
  if (parts.length > 3 || parts.some((p) => !/^[a-z0-9_]+$/.test(p)))
    throw new Error(`invalid --platform ${JSON.stringify(requested)}: expected os/arch, e.g. ${formatPlatform(host)}`);
  const [os, arch] = parts.length === 1 ? ['linux', parts[0]] : parts;
  const wanted = { os, architecture: ALIASES[arch] ?? arch };
  if (wanted.os !== host.os || wanted.architecture !== host.architecture)
    throw new Error(
      `cannot build for ${formatPlatform(wanted)} on this ${formatPlatform(host)} host: the bundle copies this host's node and libraries. ` +
        `Build on a ${formatPlatform(wanted)} machine, or use --nix with a Nix setup that can build for it.`,
    );
  return host;
}
