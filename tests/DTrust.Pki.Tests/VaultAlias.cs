// Temporary, as in the host (src/SigningServer/Hosting/VaultAlias.cs): the vault class is being renamed to HsmVault.
global using HsmVault = DTrust.KeyVault.KeyVault;
