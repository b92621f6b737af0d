//! Test harness shared by the integration tests: local AWS emulator, apps on loopback.
