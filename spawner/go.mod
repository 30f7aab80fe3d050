module paddock/spawner

go 1.19
