// Temporary: the vault class is being renamed to HsmVault in src/KeyVault; the host already uses the new name.
global using HsmVault = DTrust.KeyVault.KeyVault;
