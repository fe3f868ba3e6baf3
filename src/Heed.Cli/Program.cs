using Heed.Cli;

return HeedCli.Run(args, Console.Out, Console.Error);
