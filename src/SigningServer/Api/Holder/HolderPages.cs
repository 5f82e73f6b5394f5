using System.Globalization;
using System.Net;
using System.Text;
using DTrust.SigningServer.Factors;
using DTrust.SigningServer.Hosting;
using DTrust.SigningServer.Signing;

namespace DTrust.SigningServer.Api.Holder;

/// <summary>
/// The holder's pages on their own listener: approval of a partner's request (PIN and SMS code or passkey) and
/// passkey pairing. Server-rendered HTML, our own script and style only, framed by nobody. An edge: it maps forms
/// to the <see cref="SigningFlow"/> and <see cref="PasskeyPairing"/> and their refusals to words, deciding nothing.
/// </summary>
internal static class HolderPages
{
    private const string AntiForgeryCookie = "dtrust_af";

    public static void MapHolderPages(this IEndpointRouteBuilder app, ListenerPort listener)
    {
        var group = app.MapGroup("").OnListener(listener).AllowAnonymous();
        group.MapGet("/holder/holder.js", () => Asset("holder.js", "text/javascript; charset=utf-8"));
        group.MapGet("/holder/holder.css", () => Asset("holder.css", "text/css; charset=utf-8"));
        group.MapGet("/holder/logo.svg", () => Asset("logo.svg", "image/svg+xml"));

        group.MapGet("/approve/{segment}", async (string segment, HttpContext http, SigningFlow flow) =>
            await Page(http, segment, texts => flow.OpenApprovalAsync(segment, http.RequestAborted), (view, texts) => ApprovalPage(http, segment, view, texts, null)));
        group.MapPost("/approve/{segment}", async (string segment, HttpContext http, SigningFlow flow) =>
        {
            if (await CheckedFormAsync(http, segment) is not { } form)
            {
                return Forged(http);
            }

            return await Decision(http, segment, flow, () =>
                flow.ApproveAsync(segment, form["pin"], form["factor"].ToString() is { Length: > 0 } f ? f : null, form["code"], http.RequestAborted));
        });
        group.MapPost("/approve/{segment}/reject", async (string segment, HttpContext http, SigningFlow flow) =>
        {
            if (await CheckedFormAsync(http, segment) is null)
            {
                return Forged(http);
            }

            return await Decision(http, segment, flow, () => flow.RejectAsync(segment, http.RequestAborted));
        });
        group.MapPost("/approve/{segment}/code", async (string segment, HttpContext http, SigningFlow flow) =>
        {
            if (await CheckedFormAsync(http, segment) is null)
            {
                return Forged(http);
            }

            var texts = HolderTexts.For(http.Request);
            string? notice;
            try
            {
                await flow.IssuePageFactorAsync(segment, SmsCodeFactor.FactorName, http.RequestAborted);
                notice = null;
            }
            catch (HolderRefusalException e)
            {
                notice = texts.Refusal(e);
            }

            return await Page(http, segment, _ => flow.OpenApprovalAsync(segment, http.RequestAborted),
                (view, t) => ApprovalPage(http, segment, view with { CodeSent = notice is null }, t, notice));
        });
        group.MapPost("/approve/{segment}/passkey/options", async (string segment, HttpContext http, SigningFlow flow) =>
        {
            if (await CheckedFormAsync(http, segment) is null)
            {
                return Forged(http);
            }

            return await Json(http, async () => await flow.IssuePageFactorAsync(segment, PasskeyFactor.FactorName, http.RequestAborted) ?? "{}");
        });
        group.MapPost("/approve/{segment}/passkey", async (string segment, HttpContext http, SigningFlow flow) =>
        {
            if (await CheckedFormAsync(http, segment) is not { } form)
            {
                return Forged(http);
            }

            return await Json(http, async () =>
            {
                var outcome = await flow.ApproveAsync(segment, form["pin"], PasskeyFactor.FactorName, form["assertion"], http.RequestAborted);
                return JsonAnswer(outcome.Redirect, string.Format(CultureInfo.InvariantCulture, HolderTexts.For(http.Request).Approved, ""));
            });
        });

        group.MapGet("/pair/{token}", async (string token, HttpContext http, PasskeyPairing pairing) =>
            await Page(http, token, _ => pairing.OpenAsync(token, http.RequestAborted), (opened, texts) => PairingPage(http, token, opened, texts, null)));
        group.MapPost("/pair/{token}/options", async (string token, HttpContext http, PasskeyPairing pairing) =>
        {
            if (await CheckedFormAsync(http, token) is null)
            {
                return Forged(http);
            }

            return await Json(http, () => pairing.OptionsAsync(token, http.RequestAborted));
        });
        group.MapPost("/pair/{token}/finish", async (string token, HttpContext http, PasskeyPairing pairing) =>
        {
            if (await CheckedFormAsync(http, token) is not { } form)
            {
                return Forged(http);
            }

            return await Json(http, async () =>
            {
                await pairing.FinishAsync(token, form["attestation"].ToString(), form["name"], http.RequestAborted);
                return JsonAnswer(null, HolderTexts.For(http.Request).Paired);
            });
        });
        group.MapPost("/pair/{token}/remove", async (string token, HttpContext http, PasskeyPairing pairing) =>
        {
            if (await CheckedFormAsync(http, token) is not { } form)
            {
                return Forged(http);
            }

            var texts = HolderTexts.For(http.Request);
            string notice;
            try
            {
                await pairing.RemoveByHolderAsync(token, form["passkey"].ToString(), http.RequestAborted);
                notice = texts.Removed;
            }
            catch (DTrustException e)
            {
                notice = e.Message;
            }

            return await Page(http, token, _ => pairing.OpenAsync(token, http.RequestAborted), (opened, t) => PairingPage(http, token, opened, t, notice));
        });
    }

    /// <summary>Every answer of the holder's origin: no framing, no referrer (the link is a secret), no caching.</summary>
    public static IApplicationBuilder UseHolderHeaders(this IApplicationBuilder app, int holderPort) => app.Use((context, next) =>
    {
        if (context.Connection.LocalPort == holderPort)
        {
            var headers = context.Response.Headers;
            headers.ContentSecurityPolicy = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";
            headers.XFrameOptions = "DENY";
            headers["Referrer-Policy"] = "no-referrer";
            headers.CacheControl = "no-store";
            headers.XContentTypeOptions = "nosniff";
            headers["Permissions-Policy"] = "publickey-credentials-get=(self), publickey-credentials-create=(self)";
        }

        return next(context);
    });

    // ---- answers ----

    private static async Task<IResult> Page<T>(HttpContext http, string scope, Func<HolderTexts, Task<T>> load, Func<T, HolderTexts, string> render)
    {
        var texts = HolderTexts.For(http.Request);
        try
        {
            var model = await load(texts);
            return Html(render(model, texts));
        }
        catch (HolderRefusalException e)
        {
            return Html(MessagePage(texts, texts.Refusal(e), error: true), e.Reason == HolderRefusal.LinkInvalid ? 404 : 409);
        }
        catch (DTrustException e)
        {
            return Html(MessagePage(texts, e.Kind == ErrorKind.NotFound ? texts.LinkInvalid : e.Message, error: true), e.Kind == ErrorKind.NotFound ? 404 : 400);
        }
    }

    private static async Task<IResult> Decision(HttpContext http, string segment, SigningFlow flow, Func<Task<ApprovalOutcome>> decide)
    {
        var texts = HolderTexts.For(http.Request);
        try
        {
            var outcome = await decide();
            if (outcome.Redirect is not null)
            {
                return Results.Redirect(outcome.Redirect.ToString(), permanent: false, preserveMethod: false);
            }

            return Html(MessagePage(texts, outcome.State == ApprovalState.Approved ? string.Format(CultureInfo.InvariantCulture, texts.Approved, "") : texts.Rejected, error: false));
        }
        catch (HolderRefusalException e) when (e.Reason is HolderRefusal.WrongAnswer or HolderRefusal.TooMany)
        {
            // Show the page again with what was wrong, while the request is still open.
            var notice = texts.Refusal(e);
            return await Page(http, segment, _ => flow.OpenApprovalAsync(segment, http.RequestAborted),
                (view, t) => ApprovalPage(http, segment, view, t, notice));
        }
        catch (HolderRefusalException e)
        {
            return Html(MessagePage(texts, texts.Refusal(e), error: true), e.Reason == HolderRefusal.LinkInvalid ? 404 : 409);
        }
    }

    private static async Task<IResult> Json(HttpContext http, Func<Task<string>> answer)
    {
        try
        {
            return Results.Text(await answer(), "application/json; charset=utf-8");
        }
        catch (HolderRefusalException e)
        {
            return Results.Json(new { error = HolderTexts.For(http.Request).Refusal(e) }, statusCode: 400);
        }
        catch (DTrustException e)
        {
            return Results.Json(new { error = e.Message }, statusCode: 400);
        }
    }

    private static string JsonAnswer(Uri? redirect, string message) =>
        System.Text.Json.JsonSerializer.Serialize(new { redirect = redirect?.ToString(), message });

    private static IResult Html(string body, int status = 200) => Results.Content(body, "text/html; charset=utf-8", Encoding.UTF8, status);

    private static IResult Asset(string name, string type)
    {
        using var stream = typeof(HolderPages).Assembly.GetManifestResourceStream("DTrust.Holder." + name)
            ?? throw new InvalidOperationException("missing embedded asset " + name);
        using var reader = new StreamReader(stream);
        return Results.Text(reader.ReadToEnd(), type);
    }

    // ---- anti-forgery: a random cookie, and in each form an HMAC over it and the page's link ----

    private static string AntiForgeryToken(HttpContext http, string scope)
    {
        var nonce = http.Request.Cookies[AntiForgeryCookie];
        if (string.IsNullOrEmpty(nonce) || nonce.Length > 64)
        {
            nonce = ApproveLinks.NewToken();
            http.Response.Cookies.Append(AntiForgeryCookie, nonce, new CookieOptions
            {
                HttpOnly = true,
                SameSite = SameSiteMode.Strict,
                Secure = http.Request.IsHttps,
                Path = "/",
            });
        }

        return http.RequestServices.GetRequiredService<OneTimeCodes>().SealFields("antiforgery", nonce, scope);
    }

    /// <summary>The form, if its anti-forgery token matches the cookie for this link; else null.</summary>
    private static async Task<IFormCollection?> CheckedFormAsync(HttpContext http, string scope)
    {
        var form = http.Request.HasFormContentType ? await http.Request.ReadFormAsync(http.RequestAborted) : FormCollection.Empty;
        var nonce = http.Request.Cookies[AntiForgeryCookie];
        var expected = string.IsNullOrEmpty(nonce) ? null : http.RequestServices.GetRequiredService<OneTimeCodes>().SealFields("antiforgery", nonce, scope);
        return expected is not null && OneTimeCodes.SameMac(expected, form["af"].ToString()) ? form : null;
    }

    /// <summary>A readable refusal on the holder's origin, in the browser's language (CSC's oauth2/authorize uses it).</summary>
    internal static IResult ErrorPage(HttpContext http, string message, int status) =>
        Html(MessagePage(HolderTexts.For(http.Request), message, error: true), status);

    private static IResult Forged(HttpContext http)
    {
        var texts = HolderTexts.For(http.Request);
        return Html(MessagePage(texts, texts.Forged, error: true), 400);
    }

    // ---- HTML ----

    private static string E(string? text) => WebUtility.HtmlEncode(text ?? "");

    private static string Layout(HolderTexts texts, string title, string main) => $"""
        <!doctype html>
        <html lang="{texts.Language}">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{E(title)}</title>
        <link rel="stylesheet" href="/holder/holder.css">
        <script src="/holder/holder.js" defer></script>
        </head>
        <body>
        <header>{E(texts.Brand)}</header>
        <main id="main">
        {main}
        </main>
        </body>
        </html>
        """;

    private static string MessagePage(HolderTexts texts, string message, bool error) =>
        Layout(texts, texts.Brand, $"""<p id="status" class="message {(error ? "error" : "ok")}" role="status" tabindex="-1">{E(message)}</p>""");

    private static string ApprovalPage(HttpContext http, string segment, ApprovalView view, HolderTexts texts, string? notice)
    {
        var a = view.Approval;
        var action = "/approve/" + Uri.EscapeDataString(segment);
        var af = E(AntiForgeryToken(http, segment));
        var documents = new StringBuilder();
        foreach (var d in a.Documents)
        {
            documents.Append(CultureInfo.InvariantCulture,
                $"""<li><span class="label">{E(d.Label)}</span><span class="fp">{E(a.HashAlgorithm)} {E(PendingApproval.Fingerprint(d.Hash))} …</span></li>""");
        }

        var sms = view.Factors.Contains(SmsCodeFactor.FactorName);
        var passkey = view.Factors.Contains(PasskeyFactor.FactorName);
        var code = sms
            ? $"""
              <label for="code">{E(texts.Code)}</label>
              <input id="code" name="code" inputmode="numeric" autocomplete="one-time-code" maxlength="6">
              <p class="note">{(view.CodeSent ? E(texts.CodeSent) : "")}</p>
              """
            : "";
        var passkeyButton = passkey
            ? $"""<button type="button" id="passkey" data-action="{E(action)}" data-need-pin="{E(texts.NeedPin)}">{E(texts.ApproveWithPasskey)}</button>"""
            : "";
        var submit = sms || view.Factors.Count == 0
            ? $"""<button type="submit" class="{(passkey ? "secondary" : "")}">{E(texts.Approve)}</button>"""
            : "";
        var newCode = sms
            ? $"""<form method="post" action="{E(action)}/code"><input type="hidden" name="af" value="{af}"><button type="submit" class="secondary">{E(texts.NewCode)}</button></form>"""
            : "";
        var main = $"""
            <h1>{E(string.Format(CultureInfo.InvariantCulture, texts.AsksYou, a.PartnerName))}</h1>
            {(a.Description is null ? "" : $"<p>{E(a.Description)}</p>")}
            <dl>
            <dt>{E(texts.Level)}</dt><dd><span class="level">{E(texts.LevelName(a.Level))}</span></dd>
            <dt>{E(texts.Certificate)}</dt><dd>{E(a.Subject)}</dd>
            <dt>{E(texts.ValidUntil)}</dt><dd>{E(texts.When(a.ExpiresAt))}</dd>
            </dl>
            <h2>{E(string.Format(CultureInfo.InvariantCulture, texts.Documents, a.Documents.Count))}</h2>
            <ol>{documents}</ol>
            <p id="status" class="message {(notice is null ? "" : "error")}" role="alert" tabindex="-1">{E(notice)}</p>
            <div id="decision">
            <form method="post" action="{E(action)}">
            <input type="hidden" name="af" value="{af}">
            <input type="hidden" name="factor" value="{(sms ? SmsCodeFactor.FactorName : "")}">
            <label for="pin">{E(texts.Pin)}</label>
            <input id="pin" name="pin" type="password" inputmode="numeric" autocomplete="off" required maxlength="16" autofocus>
            {code}
            {passkeyButton}
            {submit}
            </form>
            {newCode}
            <form method="post" action="{E(action)}/reject"><input type="hidden" name="af" value="{af}"><button type="submit" class="danger">{E(texts.Reject)}</button></form>
            </div>
            <p class="note">{E(texts.Never)}</p>
            """;
        return Layout(texts, texts.Brand, main);
    }

    private static string PairingPage(
        HttpContext http, string token, (Store.UserRecord Holder, IReadOnlyList<Store.PasskeyRecord> Devices) opened, HolderTexts texts, string? notice)
    {
        var action = "/pair/" + Uri.EscapeDataString(token);
        var af = E(AntiForgeryToken(http, token));
        var devices = new StringBuilder();
        foreach (var d in opened.Devices)
        {
            devices.Append(CultureInfo.InvariantCulture, $"""
                <li class="row"><span>{E(d.Name)} <span class="note">{E(texts.Added)} {E(texts.Day(d.CreatedAt))}</span></span>
                <form method="post" action="{E(action)}/remove"><input type="hidden" name="af" value="{af}"><input type="hidden" name="passkey" value="{E(d.Id)}"><button type="submit" class="danger">{E(texts.Remove)}</button></form></li>
                """);
        }

        var main = $"""
            <h1>{E(texts.PairTitle)}</h1>
            <p>{E(string.Format(CultureInfo.InvariantCulture, texts.PairIntro, opened.Holder.GivenName + " " + opened.Holder.Surname))}</p>
            <p id="status" class="message {(notice is null ? "" : "ok")}" role="status" tabindex="-1">{E(notice)}</p>
            <label for="device-name">{E(texts.DeviceName)}</label>
            <input id="device-name" maxlength="60" autocomplete="off">
            <button type="button" id="pair" data-action="{E(action)}" data-af="{af}">{E(texts.Pair)}</button>
            <h2>{E(texts.YourDevices)}</h2>
            {(opened.Devices.Count == 0 ? $"<p class=\"note\">{E(texts.NoDevices)}</p>" : $"<ul>{devices}</ul>")}
            """;
        return Layout(texts, texts.PairTitle, main);
    }
}
