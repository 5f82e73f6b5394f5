using System.Diagnostics.Metrics;
using System.Security.Cryptography;
using DTrust.KeyVault.Interop;
using DTrust.Testing;
using Xunit;

namespace DTrust.KeyVault.Tests;

/// <summary>The session pool under load and under injected faults, over real SoftHSM sessions.</summary>
public sealed class SessionPoolTests
{
    [Fact]
    public async Task Sixty_four_concurrent_batches_over_four_sessions_all_verify()
    {
        FaultInjectingPkcs11? spy = null;
        using var vault = TestVault.Open(p => spy = new FaultInjectingPkcs11(p), null, TestVault.DomainOptions("simple", "simple", 4));
        var domain = vault.Domain("simple");
        var keys = await Task.WhenAll(new[] { KeyAlgorithm.EcP256, KeyAlgorithm.EcP384, KeyAlgorithm.Rsa2048, KeyAlgorithm.EcP256 }
            .Select(alg => domain.CreateCredentialKeyAsync(alg, TestVault.CredentialPin, CancellationToken.None)));

        var jobs = Enumerable.Range(0, 64).Select(i =>
        {
            var key = keys[i % keys.Length];
            var scheme = key.Algorithm switch
            {
                KeyAlgorithm.EcP256 => SignatureScheme.EcdsaSha256Der,
                KeyAlgorithm.EcP384 => SignatureScheme.EcdsaSha384P1363,
                _ => i % 2 == 0 ? SignatureScheme.RsaPssSha256 : SignatureScheme.RsaPkcs1Sha256,
            };
            var digests = TestVault.Digests(CredentialKeyTests.HashOf(scheme), 1 + (i % 7));
            return Task.Run(async () => (key, scheme, digests,
                signatures: await domain.SignBatchAsync(key, TestVault.CredentialPin, digests, scheme, CancellationToken.None)));
        }).ToList();

        foreach (var (key, scheme, digests, signatures) in await Task.WhenAll(jobs))
        {
            Assert.Equal(digests.Length, signatures.Count);
            for (var i = 0; i < digests.Length; i++)
            {
                Assert.True(CredentialKeyTests.Verify(key, digests[i].ToArray(), signatures[i], scheme));
            }
        }

        Assert.Equal(4, spy!.Calls("C_OpenSession"));
        Assert.Equal(4, spy.PeakOpenSessions);
        Assert.False(spy.SessionSharedBetweenThreads, "a session was used by two threads at once");
    }

    [Theory]
    [InlineData(CK.CKR_DEVICE_REMOVED, "C_Sign")]
    [InlineData(CK.CKR_SESSION_HANDLE_INVALID, "C_DeriveKey")]
    [InlineData(CK.CKR_TOKEN_NOT_PRESENT, "C_UnwrapKey")]
    [InlineData(CK.CKR_DEVICE_ERROR, "C_SignInit")]
    public async Task An_injected_device_or_session_error_is_transient_and_the_session_is_replaced(ulong rv, string function)
    {
        FaultInjectingPkcs11? spy = null;
        using var vault = TestVault.Open(p => spy = new FaultInjectingPkcs11(p), null, TestVault.DomainOptions("tsa", "tsa", 2));
        var domain = vault.Domain("tsa");
        var key = await domain.CreateCredentialKeyAsync(KeyAlgorithm.EcP256, TestVault.CredentialPin, CancellationToken.None);
        var digests = TestVault.Digests(HashAlgorithmName.SHA256, 3);
        var opened = spy!.Calls("C_OpenSession");

        spy.Inject(function, rv);
        var e = await Assert.ThrowsAsync<KeyVaultException>(
            () => domain.SignBatchAsync(key, TestVault.CredentialPin, digests, SignatureScheme.EcdsaSha256Der, CancellationToken.None));

        Assert.Equal(KeyVaultErrorKind.HsmUnavailable, e.Kind);
        Assert.True(e.IsTransient);
        var inner = Assert.IsType<Pkcs11Exception>(e.InnerException);
        Assert.Equal(function, inner.Function);
        Assert.Equal(rv, inner.ReturnValue);
        Assert.Contains(CK.ReturnValueName(rv), e.Message, StringComparison.Ordinal);
        Assert.True(spy.Calls("C_OpenSession") > opened, "the failed session was not replaced");

        // Recovered: every later call works, and the pool still holds exactly its two sessions.
        for (var i = 0; i < 4; i++)
        {
            var signatures = await domain.SignBatchAsync(key, TestVault.CredentialPin, digests, SignatureScheme.EcdsaSha256Der, CancellationToken.None);
            Assert.True(CredentialKeyTests.Verify(key, digests[2].ToArray(), signatures[2], SignatureScheme.EcdsaSha256Der));
        }

        Assert.Equal(2, spy.OpenSessions.Count);
    }

    [Fact]
    public async Task While_the_token_is_away_calls_fail_transiently_and_the_pool_recovers_when_it_returns()
    {
        FaultInjectingPkcs11? spy = null;
        using var vault = TestVault.Open(p => spy = new FaultInjectingPkcs11(p), null, TestVault.DomainOptions("tsa", "tsa", 2));
        var domain = vault.Domain("tsa");
        var key = await domain.CreateCredentialKeyAsync(KeyAlgorithm.EcP256, TestVault.CredentialPin, CancellationToken.None);
        var digests = TestVault.Digests(HashAlgorithmName.SHA256, 1);
        Task<IReadOnlyList<byte[]>> Sign() => domain.SignBatchAsync(key, TestVault.CredentialPin, digests, SignatureScheme.EcdsaSha256Der, CancellationToken.None);

        spy!.Outage = CK.CKR_TOKEN_NOT_PRESENT;
        for (var i = 0; i < 5; i++)
        {
            var e = await Assert.ThrowsAsync<KeyVaultException>(Sign);
            Assert.Equal(KeyVaultErrorKind.HsmUnavailable, e.Kind);
        }

        spy.Outage = null;
        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(Sign)));
        Assert.All(results, r => Assert.True(CredentialKeyTests.Verify(key, digests[0].ToArray(), r[0], SignatureScheme.EcdsaSha256Der)));
        Assert.True(spy.OpenSessions.Count <= 2);
        Assert.Equal(2, spy.PeakOpenSessions);
    }

    [Fact]
    public async Task Unwrap_failure_is_a_wrong_pin_only_after_a_control_unwrap_on_a_fresh_session_succeeds()
    {
        FaultInjectingPkcs11? spy = null;
        using var vault = TestVault.Open(p => spy = new FaultInjectingPkcs11(p), null, TestVault.DomainOptions("tsa", "tsa", 1));
        var domain = vault.Domain("tsa");
        var key = await domain.CreateCredentialKeyAsync(KeyAlgorithm.EcP256, TestVault.CredentialPin, CancellationToken.None);
        var digests = TestVault.Digests(HashAlgorithmName.SHA256, 1);
        Task<IReadOnlyList<byte[]>> Sign(byte[] pin) => domain.SignBatchAsync(key, pin, digests, SignatureScheme.EcdsaSha256Der, CancellationToken.None);

        // The device is broken: CKR_GENERAL_ERROR for the credential's unwrap and for the control's as well. The
        // session still answers everything else, so only the positive control can tell: not the user's PIN.
        spy!.Inject("C_UnwrapKey", CK.CKR_GENERAL_ERROR, times: 2);
        var start = spy.Log.Count;
        var fault = await Assert.ThrowsAsync<KeyVaultException>(() => Sign(TestVault.CredentialPin));
        Assert.Equal(KeyVaultErrorKind.HsmUnavailable, fault.Kind);
        Assert.True(fault.IsTransient);
        Assert.Contains("control unwrap", fault.Message, StringComparison.Ordinal);

        // The control ran on a fresh session of its own, which is closed again.
        var unwraps = spy.Log.Skip(start).Where(c => c.Function == "C_UnwrapKey").Select(c => c.Session).ToList();
        Assert.Equal(2, unwraps.Count);
        Assert.NotEqual(unwraps[0], unwraps[1]);
        Assert.Single(spy.OpenSessions);

        // A failure while opening the control's session is the HSM's too.
        spy.Inject("C_UnwrapKey", CK.CKR_GENERAL_ERROR);
        spy.Inject("C_OpenSession", CK.CKR_DEVICE_ERROR);
        Assert.Equal(KeyVaultErrorKind.HsmUnavailable, (await Assert.ThrowsAsync<KeyVaultException>(() => Sign(TestVault.CredentialPin))).Kind);

        // A real wrong PIN with a healthy HSM: the control opens, so it is the PIN.
        Assert.Equal(KeyVaultErrorKind.WrongPin, (await Assert.ThrowsAsync<KeyVaultException>(() => Sign("13579"u8.ToArray()))).Kind);

        // CKR_GENERAL_ERROR once, on the leased session only: the control passes, and the credential's unwrap tried
        // again on the fresh session opens, so the session was at fault, not the PIN (transient; nothing counted).
        spy.Inject("C_UnwrapKey", CK.CKR_GENERAL_ERROR);
        start = spy.Log.Count;
        var sessionFault = await Assert.ThrowsAsync<KeyVaultException>(() => Sign(TestVault.CredentialPin));
        Assert.Equal(KeyVaultErrorKind.HsmUnavailable, sessionFault.Kind);
        Assert.True(sessionFault.IsTransient);
        unwraps = spy.Log.Skip(start).Where(c => c.Function == "C_UnwrapKey").Select(c => c.Session).ToList();
        Assert.Equal(3, unwraps.Count);
        Assert.NotEqual(unwraps[0], unwraps[2]);

        // A wrong PIN after such a fault is still a wrong PIN: it fails on the fresh session too.
        spy.Inject("C_UnwrapKey", CK.CKR_GENERAL_ERROR);
        Assert.Equal(KeyVaultErrorKind.WrongPin, (await Assert.ThrowsAsync<KeyVaultException>(() => Sign("13579"u8.ToArray()))).Kind);

        Assert.Single(await Sign(TestVault.CredentialPin));
        Assert.Single(spy.OpenSessions);
    }

    [Theory]
    [InlineData(SignatureScheme.RsaPssSha256)]
    [InlineData(SignatureScheme.RsaPkcs1Sha256)]
    public async Task A_faulty_rsa_signature_anywhere_in_a_batch_withholds_the_whole_batch(SignatureScheme scheme)
    {
        FaultInjectingPkcs11? spy = null;
        using var vault = TestVault.Open(p => spy = new FaultInjectingPkcs11(p), null, TestVault.DomainOptions("tsa", "tsa", 1));
        var domain = vault.Domain("tsa");
        var key = await domain.CreateCredentialKeyAsync(KeyAlgorithm.Rsa2048, TestVault.CredentialPin, CancellationToken.None);
        var digests = TestVault.Digests(HashAlgorithmName.SHA256, 5);

        // The third signature of five comes back with one bit flipped, as an RSA-CRT fault leaves it: with it and
        // a good signature of the same digest, gcd(s^e - m, n) is a factor of the key. Nothing of the batch leaves.
        spy!.CorruptSignatureAfter = 3;
        var fault = await Assert.ThrowsAsync<KeyVaultException>(() => domain.SignBatchAsync(key, TestVault.CredentialPin, digests, scheme, CancellationToken.None));
        Assert.Equal(KeyVaultErrorKind.HsmError, fault.Kind);
        Assert.Contains("signature 3 of 5", fault.Message, StringComparison.Ordinal);

        // The device is fine again: the batch signs and every signature verifies.
        spy.CorruptSignatureAfter = null;
        var signatures = await domain.SignBatchAsync(key, TestVault.CredentialPin, digests, scheme, CancellationToken.None);
        using var rsa = RSA.Create();
        rsa.ImportSubjectPublicKeyInfo(key.SubjectPublicKeyInfo, out _);
        var padding = scheme == SignatureScheme.RsaPssSha256 ? RSASignaturePadding.Pss : RSASignaturePadding.Pkcs1;
        Assert.All(digests.Zip(signatures), p => Assert.True(rsa.VerifyHash(p.First.Span, p.Second, HashAlgorithmName.SHA256, padding)));
    }

    [Fact]
    public async Task The_meter_reports_each_domain_s_sessions_in_use_and_the_leases_that_waited()
    {
        using var vault = TestVault.Open(null, null, TestVault.DomainOptions("tsa", "tsa", 1), TestVault.DomainOptions("simple", "simple", 2));
        var pool = vault.Domain("tsa").Pool;
        var seen = new Dictionary<(string Instrument, string Domain), double>();
        using var listener = new MeterListener
        {
            // Other tests' vaults publish the same instruments: only this vault's meter is listened to.
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter == vault.Meter)
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<int>((i, value, tags, _) => seen[(i.Name, Domain(tags))] = value);
        listener.SetMeasurementEventCallback<long>((i, value, tags, _) => seen[(i.Name, Domain(tags))] = value);
        listener.SetMeasurementEventCallback<double>((i, value, tags, _) => seen[(i.Name, Domain(tags))] = value);
        listener.Start();

        listener.RecordObservableInstruments();
        Assert.Equal(0, seen[("sessions.in_use", "tsa")]);
        Assert.Equal(1, seen[("sessions.capacity", "tsa")]);
        Assert.Equal(2, seen[("sessions.capacity", "simple")]);
        Assert.Equal(0, seen[("session.waits", "tsa")]);

        // The one session is leased, so the next lease waits until it comes back.
        var first = await pool.RentAsync(CancellationToken.None);
        var second = pool.RentAsync(CancellationToken.None).AsTask();
        await Task.Delay(50);
        listener.RecordObservableInstruments();
        Assert.Equal(1, seen[("sessions.in_use", "tsa")]);
        Assert.Equal(0, seen[("sessions.in_use", "simple")]);
        Assert.False(second.IsCompleted);

        first.Dispose();
        (await second).Dispose();
        using (await pool.RentAsync(CancellationToken.None))
        {
            // A free session is taken without waiting, and is not counted as a wait.
        }

        listener.RecordObservableInstruments();
        Assert.Equal(0, seen[("sessions.in_use", "tsa")]);
        Assert.Equal(1, seen[("session.waits", "tsa")]);
        Assert.InRange(seen[("session.wait_seconds", "tsa")], 0.04, 30);
        Assert.Equal(0, seen[("session.waits", "simple")]);

        static string Domain(ReadOnlySpan<KeyValuePair<string, object?>> tags) =>
            Assert.Single(tags.ToArray(), t => t.Key == "domain").Value as string ?? "";
    }

    [Fact]
    public async Task A_single_digest_transaction_makes_exactly_the_raw_calls()
    {
        // The benchmark's raw transaction: derive, unwrap, one sign, two destroys. Anything more is overhead.
        FaultInjectingPkcs11? spy = null;
        using var vault = TestVault.Open(p => spy = new FaultInjectingPkcs11(p), null, TestVault.DomainOptions("tsa", "tsa", 1));
        var domain = vault.Domain("tsa");
        var key = await domain.CreateCredentialKeyAsync(KeyAlgorithm.EcP256, TestVault.CredentialPin, CancellationToken.None);
        var digests = TestVault.Digests(HashAlgorithmName.SHA256, 1);

        var start = spy!.Log.Count;
        await domain.SignBatchAsync(key, TestVault.CredentialPin, digests, SignatureScheme.EcdsaSha256P1363, CancellationToken.None);

        Assert.Equal(
            ["C_DeriveKey", "C_UnwrapKey", "C_SignInit", "C_Sign", "C_DestroyObject", "C_DestroyObject"],
            spy.FunctionsSince(start));
    }

    [Theory]
    [InlineData(CK.CKF_USER_PIN_LOCKED, "CKF_USER_PIN_LOCKED")]
    [InlineData(CK.CKF_USER_PIN_FINAL_TRY, "CKF_USER_PIN_FINAL_TRY")]
    public void A_token_whose_user_pin_is_locked_or_on_its_final_try_is_never_logged_in(ulong flag, string name)
    {
        _ = TestVault.Shared;
        FaultInjectingPkcs11? spy = null;
        var e = Assert.Throws<KeyVaultException>(() => HsmVault.Open(TestVault.Options(TestVault.DomainOptions("spare", "spare", 2)), null, p =>
        {
            spy = new FaultInjectingPkcs11(p) { ExtraTokenFlags = flag };
            return spy;
        }));

        Assert.Equal(KeyVaultErrorKind.Configuration, e.Kind);
        Assert.False(e.IsTransient);
        Assert.Contains(name, e.Message, StringComparison.Ordinal);
        Assert.Contains("not logging in", e.Message, StringComparison.Ordinal);
        Assert.Equal(0, spy!.Calls("C_Login"));
        Assert.Empty(spy.OpenSessions);
    }

    [Fact]
    public void A_pin_locked_while_running_stops_logins_until_the_token_is_unblocked()
    {
        FaultInjectingPkcs11? spy = null;
        using var vault = TestVault.Open(p => spy = new FaultInjectingPkcs11(p), null, TestVault.DomainOptions("tsa", "tsa", 1));
        var key = vault.Domain("tsa").GetSigningKey(TestVault.SigningKeys["tsa"].Label);
        var digest = SHA256.HashData("x"u8);

        // A device fault makes the pool reopen its session; meanwhile the token reports its PIN locked.
        spy!.Inject("C_Sign", CK.CKR_DEVICE_REMOVED);
        spy.ExtraTokenFlags = CK.CKF_USER_PIN_LOCKED;
        Assert.Equal(KeyVaultErrorKind.HsmUnavailable, Assert.Throws<KeyVaultException>(() => key.SignDigest(digest, SignatureScheme.RsaPkcs1Sha256)).Kind);
        var logins = spy.Calls("C_Login");
        for (var i = 0; i < 3; i++)
        {
            var e = Assert.Throws<KeyVaultException>(() => key.SignDigest(digest, SignatureScheme.RsaPkcs1Sha256));
            Assert.Equal(KeyVaultErrorKind.Configuration, e.Kind);
            Assert.Contains("CKF_USER_PIN_LOCKED", e.Message, StringComparison.Ordinal);
        }

        Assert.Equal(logins, spy.Calls("C_Login"));

        // Unblocked by an officer: the next lease logs in and signs, no restart.
        spy.ExtraTokenFlags = 0;
        Assert.Equal(256, key.SignDigest(digest, SignatureScheme.RsaPkcs1Sha256).Length);
        Assert.Equal(logins + 1, spy.Calls("C_Login"));
    }

    [Fact]
    public void An_injected_pin_refusal_at_start_up_closes_every_session_and_is_tried_once()
    {
        FaultInjectingPkcs11? spy = null;
        var options = TestVault.Options(TestVault.DomainOptions("root", "root", 4));
        spy = null;
        var e = Assert.Throws<KeyVaultException>(() => HsmVault.Open(options, null, p =>
        {
            spy = new FaultInjectingPkcs11(p);
            spy.Inject("C_Login", CK.CKR_PIN_INCORRECT);
            return spy;
        }));

        Assert.Equal(KeyVaultErrorKind.Configuration, e.Kind);
        Assert.Contains("CKR_PIN_INCORRECT", e.Message, StringComparison.Ordinal);
        Assert.Equal(1, spy!.Calls("C_Login"));
        Assert.Empty(spy.OpenSessions);
    }

    [Fact]
    public async Task A_pin_refused_when_reopening_a_session_is_latched_and_never_presented_again()
    {
        FaultInjectingPkcs11? spy = null;
        using var vault = TestVault.Open(p => spy = new FaultInjectingPkcs11(p), null, TestVault.DomainOptions("tsa", "tsa", 1));
        var key = vault.Domain("tsa").GetSigningKey(TestVault.SigningKeys["tsa"].Label);
        var digest = SHA256.HashData("x"u8);

        spy!.Inject("C_Sign", CK.CKR_DEVICE_REMOVED);
        spy.Inject("C_Login", CK.CKR_PIN_INCORRECT);
        Assert.Equal(KeyVaultErrorKind.HsmUnavailable, Assert.Throws<KeyVaultException>(() => key.SignDigest(digest, SignatureScheme.RsaPkcs1Sha256)).Kind);
        var logins = spy.Calls("C_Login");

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(KeyVaultErrorKind.Configuration, Assert.Throws<KeyVaultException>(() => key.SignDigest(digest, SignatureScheme.RsaPkcs1Sha256)).Kind);
        }

        Assert.Equal(logins, spy.Calls("C_Login"));
    }

    [Fact]
    public void A_wrong_token_pin_at_start_up_is_tried_once_and_leaves_the_token_unlocked()
    {
        const string wrongPin = "WrongTokenPin-7731";
        var log = new LogCapture();
        var options = TestVault.Options(new KeyDomainOptions { Name = "spare", TokenLabel = "spare", Pin = wrongPin, Sessions = 4 });
        FaultInjectingPkcs11? spy = null;

        var e = Assert.Throws<KeyVaultException>(() => HsmVault.Open(options, log, p => spy = new FaultInjectingPkcs11(p)));

        Assert.Equal(KeyVaultErrorKind.Configuration, e.Kind);
        Assert.Equal(CK.CKR_PIN_INCORRECT, Assert.IsType<Pkcs11Exception>(e.InnerException).ReturnValue);
        Assert.Equal(1, spy!.Calls("C_Login"));
        Assert.Empty(spy.OpenSessions);
        var flags = SpareFlags();
        Assert.Equal(0UL, flags & (CK.CKF_USER_PIN_LOCKED | CK.CKF_USER_PIN_FINAL_TRY));
        Assert.DoesNotContain(wrongPin, e.ToString(), StringComparison.Ordinal);
        Assert.NotEmpty(log.Lines);
        Assert.DoesNotContain(log.Lines, l => l.Contains(wrongPin, StringComparison.Ordinal));

        // The right PIN still opens the token, which is neither locked nor on its last try.
        using var vault = HsmVault.Open(TestVault.Options(TestVault.DomainOptions("spare", "spare", 2)));
        Assert.Equal(0UL, SpareFlags() & (CK.CKF_USER_PIN_LOCKED | CK.CKF_USER_PIN_FINAL_TRY | CK.CKF_USER_PIN_COUNT_LOW));
    }

    [Fact]
    public async Task Credential_pins_never_reach_logs_or_messages()
    {
        var log = new LogCapture();
        FaultInjectingPkcs11? spy = null;
        using var vault = TestVault.Open(p => spy = new FaultInjectingPkcs11(p), log, TestVault.DomainOptions("tsa", "tsa", 1));
        var domain = vault.Domain("tsa");
        var right = "Right-Credential-Pin-1"u8.ToArray();
        var wrong = "Wrong-Credential-Pin-2"u8.ToArray();
        var key = await domain.CreateCredentialKeyAsync(KeyAlgorithm.EcP256, right, CancellationToken.None);
        var digests = TestVault.Digests(HashAlgorithmName.SHA256, 1);
        var messages = new List<string>
        {
            (await Assert.ThrowsAsync<KeyVaultException>(() => domain.SignBatchAsync(key, wrong, digests, SignatureScheme.EcdsaSha256Der, CancellationToken.None))).ToString(),
            (await Assert.ThrowsAsync<KeyVaultException>(() => domain.RewrapAsync(key, wrong, right, CancellationToken.None))).ToString(),
        };
        spy!.Inject("C_Sign", CK.CKR_DEVICE_REMOVED);
        messages.Add((await Assert.ThrowsAsync<KeyVaultException>(() => domain.SignBatchAsync(key, right, digests, SignatureScheme.EcdsaSha256Der, CancellationToken.None))).ToString());

        Assert.NotEmpty(log.Lines);
        foreach (var text in messages.Concat(log.Lines))
        {
            Assert.DoesNotContain("Credential-Pin", text, StringComparison.Ordinal);
            Assert.DoesNotContain(TestVault.Hsm.Pin("tsa"), text, StringComparison.Ordinal);
        }
    }

    private static ulong SpareFlags()
    {
        var p11 = Pkcs11InteropAdapter.Load(SoftHsmEnvironment.ModulePath);
        return p11.GetSlotList(true).Select(p11.GetTokenInfo).Single(t => t.Label == "spare").Flags;
    }
}
