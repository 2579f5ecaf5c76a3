// SSH key pairs for the lab's simulated switches (and the power tests that use them).
import ssh2 from 'ssh2'

const { utils } = ssh2

/**
 * ssh2's generateKeyPairSync('ed25519') now and then returns a key its own parser rejects
 * ("Malformed OpenSSH public key"); draw again until the pair parses.
 */
export function sshKeyPair(type: 'ed25519' | 'rsa'): { private: string; public: string } {
  for (let i = 0; ; i++) {
    const kp = type === 'rsa' ? utils.generateKeyPairSync('rsa', { bits: 2048 }) : utils.generateKeyPairSync('ed25519')
    if (!(utils.parseKey(kp.public) instanceof Error) && !(utils.parseKey(kp.private) instanceof Error)) return kp
    if (i >= 20) throw new Error('could not generate a usable SSH key pair')
  }
}
