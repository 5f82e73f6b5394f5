using System.Globalization;
using DTrust.SigningServer.Signing;

namespace DTrust.SigningServer.Api.Holder;

/// <summary>The words of the holder's pages in English and German, chosen by the browser's Accept-Language.</summary>
internal sealed class HolderTexts
{
    private static readonly HolderTexts English = new("en")
    {
        Brand = "DTrust · signature approval",
        AsksYou = "{0} asks you to sign",
        Level = "Level",
        Certificate = "Certificate",
        ValidUntil = "Request valid until",
        Documents = "Documents ({0})",
        Pin = "Activation PIN",
        Code = "Code from the SMS",
        CodeSent = "We sent a code to your phone.",
        Approve = "Approve and sign",
        ApproveWithPasskey = "Approve with passkey",
        NewCode = "Send me a code by SMS",
        Reject = "Reject",
        NeedPin = "Enter your activation PIN first.",
        Approved = "Approved. {0} can now sign these documents. You may close this window.",
        Rejected = "Rejected. Nothing will be signed. You may close this window.",
        LinkInvalid = "This link is not valid, was already used or has expired.",
        CannotSign = "This credential cannot sign now.",
        TooMany = "Too many attempts; wait a minute and try again.",
        Unavailable = "The service is unavailable right now. Nothing was approved; try again shortly.",
        PairTitle = "Add a passkey",
        PairIntro = "For {0}. Your device will ask for your fingerprint, face or screen lock.",
        DeviceName = "Name of this device",
        Pair = "Add passkey",
        Paired = "Passkey added. You can approve signatures with it from now on.",
        YourDevices = "Your passkeys",
        NoDevices = "No passkey yet.",
        Remove = "Remove",
        Removed = "Passkey removed.",
        Added = "added",
        Qualified = "Qualified electronic signature",
        Advanced = "Advanced electronic signature",
        Simple = "Simple electronic signature",
        Forged = "This form did not come from this page. Reload the page and try again.",
        Never = "Never enter your PIN on a page you reached from an e-mail or a partner's site other than this address.",
    };

    private static readonly HolderTexts German = new("de")
    {
        Brand = "DTrust · Signaturfreigabe",
        AsksYou = "{0} bittet Sie um Ihre Unterschrift",
        Level = "Stufe",
        Certificate = "Zertifikat",
        ValidUntil = "Anfrage gültig bis",
        Documents = "Dokumente ({0})",
        Pin = "Signatur-PIN",
        Code = "Code aus der SMS",
        CodeSent = "Wir haben Ihnen einen Code per SMS geschickt.",
        Approve = "Freigeben und signieren",
        ApproveWithPasskey = "Mit Passkey freigeben",
        NewCode = "Code per SMS senden",
        Reject = "Ablehnen",
        NeedPin = "Bitte zuerst die Signatur-PIN eingeben.",
        Approved = "Freigegeben. {0} kann diese Dokumente jetzt signieren. Sie können das Fenster schließen.",
        Rejected = "Abgelehnt. Es wird nichts signiert. Sie können das Fenster schließen.",
        LinkInvalid = "Dieser Link ist ungültig, wurde schon verwendet oder ist abgelaufen.",
        CannotSign = "Mit diesem Zertifikat kann derzeit nicht signiert werden.",
        TooMany = "Zu viele Versuche; bitte warten Sie eine Minute.",
        Unavailable = "Der Dienst ist gerade nicht erreichbar. Es wurde nichts freigegeben; bitte später erneut versuchen.",
        PairTitle = "Passkey hinzufügen",
        PairIntro = "Für {0}. Ihr Gerät fragt nach Fingerabdruck, Gesicht oder Displaysperre.",
        DeviceName = "Name dieses Geräts",
        Pair = "Passkey hinzufügen",
        Paired = "Passkey hinzugefügt. Sie können Signaturen ab jetzt damit freigeben.",
        YourDevices = "Ihre Passkeys",
        NoDevices = "Noch kein Passkey.",
        Remove = "Entfernen",
        Removed = "Passkey entfernt.",
        Added = "hinzugefügt",
        Qualified = "Qualifizierte elektronische Signatur",
        Advanced = "Fortgeschrittene elektronische Signatur",
        Simple = "Einfache elektronische Signatur",
        Forged = "Dieses Formular stammt nicht von dieser Seite. Bitte laden Sie die Seite neu.",
        Never = "Geben Sie Ihre PIN nie auf einer Seite ein, die Sie über eine E-Mail oder eine andere Adresse als diese erreicht haben.",
    };

    private HolderTexts(string language) => Language = language;

    public string Language { get; }

    // The server runs in invariant globalization mode: dates are formatted here, per language.
    /// <summary>A date and time as the language writes it (UTC).</summary>
    public string When(DateTimeOffset time) =>
        time.UtcDateTime.ToString(Language == "de" ? "dd.MM.yyyy, HH:mm" : "d MMM yyyy, HH:mm", CultureInfo.InvariantCulture) + " UTC";

    /// <summary>A date as the language writes it.</summary>
    public string Day(DateTimeOffset time) =>
        time.UtcDateTime.ToString(Language == "de" ? "dd.MM.yyyy" : "d MMM yyyy", CultureInfo.InvariantCulture);

    public required string Brand { get; init; }

    public required string AsksYou { get; init; }

    public required string Level { get; init; }

    public required string Certificate { get; init; }

    public required string ValidUntil { get; init; }

    public required string Documents { get; init; }

    public required string Pin { get; init; }

    public required string Code { get; init; }

    public required string CodeSent { get; init; }

    public required string Approve { get; init; }

    public required string ApproveWithPasskey { get; init; }

    public required string NewCode { get; init; }

    public required string Reject { get; init; }

    public required string NeedPin { get; init; }

    public required string Approved { get; init; }

    public required string Rejected { get; init; }

    public required string LinkInvalid { get; init; }

    public required string CannotSign { get; init; }

    public required string TooMany { get; init; }

    public required string Unavailable { get; init; }

    public required string PairTitle { get; init; }

    public required string PairIntro { get; init; }

    public required string DeviceName { get; init; }

    public required string Pair { get; init; }

    public required string Paired { get; init; }

    public required string YourDevices { get; init; }

    public required string NoDevices { get; init; }

    public required string Remove { get; init; }

    public required string Removed { get; init; }

    public required string Added { get; init; }

    public required string Qualified { get; init; }

    public required string Advanced { get; init; }

    public required string Simple { get; init; }

    public required string Never { get; init; }

    public required string Forged { get; init; }

    /// <summary>German when the browser prefers it to English, else English.</summary>
    public static HolderTexts For(HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var languages = request.GetTypedHeaders().AcceptLanguage;
        foreach (var language in languages.OrderByDescending(l => l.Quality ?? 1))
        {
            var tag = language.Value.Value ?? "";
            if (tag.StartsWith("de", StringComparison.OrdinalIgnoreCase))
            {
                return German;
            }

            if (tag.StartsWith("en", StringComparison.OrdinalIgnoreCase))
            {
                return English;
            }
        }

        return English;
    }

    public string LevelName(string level) => level switch
    {
        "QUALIFIED" => Qualified,
        "ADVANCED" => Advanced,
        _ => Simple,
    };

    /// <summary>A refusal in the holder's words; a wrong answer keeps the server's detail (what is wrong, what is left).</summary>
    public string Refusal(HolderRefusalException refusal) => refusal?.Reason switch
    {
        HolderRefusal.LinkInvalid => LinkInvalid,
        HolderRefusal.CannotSign => CannotSign + " (" + refusal.Message + ")",
        HolderRefusal.TooMany => TooMany,
        HolderRefusal.WrongAnswer => Capitalised(refusal.Message),
        _ => Unavailable,
    };

    private static string Capitalised(string text) => text.Length == 0 ? text : char.ToUpperInvariant(text[0]) + text[1..] + ".";
}
