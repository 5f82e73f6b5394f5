using System.Globalization;
using System.Text;

namespace DTrust.LoadGen;

/// <summary>One scenario over several runs: each run's measurement beside the raw rate measured in that run.</summary>
public sealed record ScenarioRuns(Scenario Scenario, string Load, List<(Measurement Load, double Raw)> Runs)
{
    public double[] Ratios => [.. Runs.Select(r => r.Load.SignaturesPerSecond / r.Raw)];
}

/// <summary>One point of the open-loop sweep: offered rate, and the measurements of its runs.</summary>
public sealed record SweepPoint(double Fraction, double OfferedPerSecond, List<Measurement> Runs);

/// <summary>The markdown table README shows, and the latency chart of the sweep (ScottPlot).</summary>
public static class Report
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static string Table(IReadOnlyList<ScenarioRuns> scenarios, Target target, int runs)
    {
        var nodes = target.Nodes.Count;
        var sb = new StringBuilder();
        sb.AppendLine(Inv, $"{nodes} node(s), store {target.Store}, {target.Sessions} HSM sessions per domain per node; medians of {runs} run(s), (min–max) over runs; raw measured in each run before its load.");
        sb.AppendLine();
        sb.Append("| scenario | load | signatures/s | raw/s | ratio to raw | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors | peak RSS MB | CPU ms/signature: server / generator / rest |");
        sb.AppendLine(nodes > 1 ? " signatures/s per node |" : "");
        sb.Append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        sb.AppendLine(nodes > 1 ? " --- |" : "");
        foreach (var s in scenarios)
        {
            var loads = s.Runs.Select(r => r.Load).ToList();
            var errors = loads.SelectMany(l => l.Errors).GroupBy(e => e.Key).Select(g => $"{g.Key} {g.Sum(e => e.Value)}").ToList();
            sb.Append(Inv, $"| {s.Scenario.Number}. {s.Scenario.Name} | {s.Load} ");
            sb.Append(Inv, $"| {Spread([.. loads.Select(l => l.SignaturesPerSecond)], "0")} ");
            sb.Append(Inv, $"| {Median([.. s.Runs.Select(r => r.Raw)]):0} ");
            sb.Append(Inv, $"| **{Spread(s.Ratios, "0.00")}** ");
            foreach (var p in new[] { 50.0, 90, 99, 99.9 })
            {
                sb.Append(Inv, $"| {Median([.. loads.Select(l => l.Percentile(p))]):0.0} ");
            }

            sb.Append(Inv, $"| {loads.Max(l => l.MaxMs):0.0} ");
            sb.Append(Inv, $"| {(errors.Count == 0 ? "0" : string.Join(", ", errors))} ");
            sb.Append(Inv, $"| {loads.Max(l => l.PeakRssBytes) / 1048576.0:0} ");
            sb.Append(Inv, $"| {Median([.. loads.Select(l => l.CpuPerSignatureMs.Server)]):0.00} / {Median([.. loads.Select(l => l.CpuPerSignatureMs.Generator)]):0.00} / {Median([.. loads.Select(l => l.CpuPerSignatureMs.Other)]):0.00} |");
            if (nodes > 1)
            {
                sb.Append(' ').Append(string.Join(" / ", Enumerable.Range(0, nodes)
                    .Select(n => Median([.. loads.Select(l => l.SignaturesPerSecondByNode[n])]).ToString("0", Inv)))).Append(" |");
            }

            sb.AppendLine();
        }

        return sb.ToString();
    }

    public static string SweepTable(IReadOnlyList<SweepPoint> points, double max)
    {
        var sb = new StringBuilder();
        sb.AppendLine(Inv, $"Open loop, scenario 1, offered load as a fraction of its closed-loop maximum ({max:0} signatures/s); medians over runs.");
        sb.AppendLine();
        sb.AppendLine("| offered | signatures/s offered | achieved | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors |");
        sb.AppendLine("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        foreach (var p in points)
        {
            sb.Append(Inv, $"| {p.Fraction:P0} | {p.OfferedPerSecond:0} | {Median([.. p.Runs.Select(r => r.SignaturesPerSecond)]):0} ");
            foreach (var q in new[] { 50.0, 90, 99, 99.9 })
            {
                sb.Append(Inv, $"| {Median([.. p.Runs.Select(r => r.Percentile(q))]):0.0} ");
            }

            sb.AppendLine(Inv, $"| {p.Runs.Max(r => r.MaxMs):0.0} | {p.Runs.Sum(r => r.ErrorCount)} |");
        }

        return sb.ToString();
    }

    /// <summary>Latency percentiles against offered load (scenario 1), as PNG and SVG beside each other.</summary>
    public static void Chart(IReadOnlyList<SweepPoint> points, string pathWithoutExtension, string subtitle)
    {
        var plot = new ScottPlot.Plot();
        double[] xs = [.. points.Select(p => p.OfferedPerSecond)];
        foreach (var q in new[] { 50.0, 90, 99, 99.9 })
        {
            double[] ys = [.. points.Select(p => Median([.. p.Runs.Select(r => r.Percentile(q))]))];
            var line = plot.Add.Scatter(xs, ys);
            line.LegendText = "p" + q.ToString(Inv);
            line.LineWidth = 2;
            line.MarkerSize = 6;
        }

        plot.Title("Scenario 1 (authorize + sign 1 hash, P-256): latency against offered load\n" + subtitle);
        plot.XLabel("offered load (signatures/s, open loop)");
        plot.YLabel("authorize + sign latency (ms)");
        plot.ShowLegend(ScottPlot.Alignment.UpperLeft);
        plot.Axes.SetLimitsY(0, points.Max(p => Median([.. p.Runs.Select(r => r.Percentile(99.9))])) * 1.1);
        plot.SavePng(pathWithoutExtension + ".png", 900, 520);
        plot.SaveSvg(pathWithoutExtension + ".svg", 900, 520);
    }

    public static double Median(double[] values)
    {
        var sorted = values.Where(v => !double.IsNaN(v)).Order().ToArray();
        return sorted.Length == 0 ? double.NaN
            : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2]
            : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static string Spread(double[] values, string format) => values.Length == 1
        ? values[0].ToString(format, Inv)
        : $"{Median(values).ToString(format, Inv)} ({values.Min().ToString(format, Inv)}–{values.Max().ToString(format, Inv)})";
}
