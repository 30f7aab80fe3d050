module paddock/agent

go 1.19
