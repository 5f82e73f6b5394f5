using System.CommandLine;
using Grpc.Core;

namespace DTrust.Client.Commands;

internal static class HealthCommand
{
    public static Command Create(Option<string> server)
    {
        var service = new Option<string>("--service") { Description = "a service name; empty asks for the server", DefaultValueFactory = _ => "" };
        var command = new Command("health", "asks grpc.health.v1.Health/Check; exit 0 only when SERVING") { service };
        command.SetAction(async (parse, ct) =>
        {
            using var client = DTrustClient.Connect(new Uri(parse.GetValue(server)!));
            try
            {
                var status = await client.CheckHealthAsync(parse.GetValue(service) ?? "", ct);
                Console.WriteLine(status.ToString().ToUpperInvariant());
                return status == Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving ? 0 : 1;
            }
            catch (RpcException e)
            {
                await Console.Error.WriteLineAsync($"{e.StatusCode}: {e.Status.Detail}");
                return 2;
            }
        });
        return command;
    }
}
