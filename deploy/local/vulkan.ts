/**
 * A Vulkan driver that ONNX Runtime's WebGPU provider accepts, so that the GPU code path runs on
 * machines without a GPU: Mesa's lavapipe, a software (CPU-emulated) Vulkan device. Debian
 * bookworm's own Mesa 22.3 is too old (Dawn finds "No supported adapters"); Mesa 25 from
 * bookworm-backports works. A functional stand-in that proves the path and its answers, never a
 * measure of GPU speed.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { aptInstall, onPath, runOrThrow } from './daemon.js';

const BACKPORTS_LIST = '/etc/apt/sources.list.d/bookworm-backports.list';
const BACKPORTS = 'deb http://deb.debian.org/debian bookworm-backports main';
const MINIMUM_MESA_MAJOR = 25;

/** The installed mesa-vulkan-drivers version, or undefined. */
function mesaVulkanVersion(): string | undefined {
  if (!onPath('dpkg-query')) return undefined;
  try {
    const out = execFileSync(
      'dpkg-query',
      ['-W', '-f=${Status} ${Version}', 'mesa-vulkan-drivers'],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    );
    return out.startsWith('install ok installed ') ? out.split(' ').at(-1) : undefined;
  } catch {
    return undefined;
  }
}

function debianCodename(): string | undefined {
  if (!existsSync('/etc/os-release')) return undefined;
  return /^VERSION_CODENAME=(\S+)$/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1];
}

/**
 * Installs Mesa ≥ 25's Vulkan drivers when missing (idempotent). On Debian bookworm they come from
 * bookworm-backports; elsewhere the distribution's own package is used. Returns what it did.
 */
export function ensureSoftwareVulkan(): 'present' | 'installed' {
  const version = mesaVulkanVersion();
  if (version && Number(version.split('.')[0]!.replace(/^\d+:/, '')) >= MINIMUM_MESA_MAJOR) {
    return 'present';
  }
  if (debianCodename() === 'bookworm') {
    if (!existsSync(BACKPORTS_LIST)) writeBackportsSource();
    aptInstall('webgpu (software vulkan)', [
      '-t',
      'bookworm-backports',
      'mesa-vulkan-drivers',
      'libvulkan1',
    ]);
  } else {
    aptInstall('webgpu (software vulkan)', ['mesa-vulkan-drivers', 'libvulkan1']);
  }
  return 'installed';
}

function writeBackportsSource(): void {
  if (process.getuid?.() === 0) {
    writeFileSync(BACKPORTS_LIST, `${BACKPORTS}\n`);
  } else {
    runOrThrow('sudo', ['-n', 'sh', '-c', `echo '${BACKPORTS}' > ${BACKPORTS_LIST}`]);
  }
}
