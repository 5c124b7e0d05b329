// Public keys made by OpenSSH 9.2's ssh-keygen, with the bits and fingerprint `ssh-keygen -lf`
// printed for each: what parseSshPublicKey must agree with.
export const OPENSSH_KEYS: { line: string; bits: number; fingerprint: string }[] = [
  {
    line: "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBBz9y77PaGzolCoT5vQirjjqcVyfEDCfIk7WZegMziARfAfr7M0p1WgJr+4x+WKxu9fPFi1RB7OFaDPZ0ONkyvs= c-ecdsab256",
    bits: 256,
    fingerprint: "SHA256:IraUsYnts4UbwEHfykStod+zowDQWrZ5xOCWjYoiqeE",
  },
  {
    line: "ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBDYJftNbcTeIgVZn1Km3M1jJnZN+xzRL6l80f8d8eHlvARMBX7pVMmqr7vDiX3zTww6V84zadlRqr+JVaHeztKDHCYsa5gXSRnzrP6wNJjZPS+vuiH3NyZnHFhk72oMkiQ== c-ecdsab384",
    bits: 384,
    fingerprint: "SHA256:Z8mhLJNXjl8+otUEJHpMxNO7kjP/zBoJoc4h6wG3gXI",
  },
  {
    line: "ecdsa-sha2-nistp521 AAAAE2VjZHNhLXNoYTItbmlzdHA1MjEAAAAIbmlzdHA1MjEAAACFBAE9ZeUv/+D6HUtnIHSXySHXUSNtip45SNQqM31JcTd0H5taVpgqY78DGUz8JT1YTNrhVURUI73xcPVg1wKMzu+DkwDcHSH11kawrFqd+ZpdxS7HHpacRFjTOHdpvZOsNLckL+m8t7wwGp5qALejewR3rAzY3n1hE+JCvsK1dcSePkUayw== c-ecdsab521",
    bits: 521,
    fingerprint: "SHA256:inkGnffvKqdPp1nFEVAUJNU1IxTD8S4QbRHHRUABY8w",
  },
  {
    line: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFn8iNAyWgxOauxGXunUd+WgHD0/AiDl0XbWeqlij83j c-ed25519",
    bits: 256,
    fingerprint: "SHA256:DzZYducah6yuFoBm6CpSdmO52FoZVu5TY9jNnxt9db4",
  },
  {
    line: "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDI9JzWSlHGsxYHHgZQVMHjHGT/byPw0VBHOraWqY1vphtvOuz6V0OwctvpZQ+uG+EcJMDE7D3uhdm+crOo7yXaMXx2GBk0UuYD21LSgV64TjgmsD1whk2nC4IUD2LlH4x2afFUAz06J2NgP5E9ewskcunYLXQ/ohn9hWaQt/yx0w== c-rsab1024",
    bits: 1024,
    fingerprint: "SHA256:yh8Du9FCKTSSzN5Wq7g8b+IpV90TZLUb4YmDPz17Snk",
  },
  {
    line: "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCvZfIMUmws18i0Dmq4nwB5dWtlQ/Mit1LWyJKnCpOYg8mxoNhLG4GQpNz3CA75QZmK/YZ9tn6C4FjGlsQ6FaHOhNiUOLHI62PGbC1U3oB5tzvBnFh4k3KYbMHrqDeZQhdm4zjisxJ8FVaBiZPKehNxfuV0Zibx0x4rcatVgjSHPwMZDHqy+cl19nZMV0O0RTnVoE4kJ4eiLX6T6mJHt1Ga//coEfrc2OWhvtAN9xW+ygVKsNPAyXqOgIKI4IjtJQoN8K2J2TvCemrTy7PfqezXKHiXXGSJj7d6/EKKHss5x0/LTNXz+upysWUd7jSB79+gVWaBrp0YfPcY5FPFNKuT c-rsab2048",
    bits: 2048,
    fingerprint: "SHA256:vFXJbHp3i57iVe++/o/8qS/WEQ5Al+7HTqX/K9D5Ios",
  },
];
