Console.WriteLine("dtrust");
