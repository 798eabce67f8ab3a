-- Loads a rendered prosody config in a sandbox and prints every option set:
-- "section<TAB>key<TAB>kind<TAB>hex(value)[,hex(value)...]".
-- The sandbox has no os/io/require: injected code fails or shows up.
local function hex(s)
  return (tostring(s):gsub(".", function(c) return string.format("%02x", c:byte()) end))
end
local section = "global"
local env = {}
local function emit(k, v)
  local t = type(v)
  if t == "table" then
    local parts = {}
    for i, x in ipairs(v) do
      if type(x) == "table" then
        local kv = {}
        for kk, vv in pairs(x) do kv[#kv + 1] = kk .. "=" .. tostring(vv) end
        table.sort(kv)
        parts[i] = hex(table.concat(kv, ";"))
      else
        parts[i] = hex(x)
      end
    end
    for kk, vv in pairs(v) do
      if type(kk) == "string" and type(vv) ~= "table" then parts[#parts + 1] = hex(kk .. "=" .. tostring(vv)) end
    end
    print(section .. "\t" .. k .. "\ttable\t" .. table.concat(parts, ","))
  else
    print(section .. "\t" .. k .. "\t" .. t .. "\t" .. hex(v))
  end
end
function env.VirtualHost(name) section = "VirtualHost " .. name; emit("__section", name) end
function env.Component(name)
  section = "Component " .. name
  emit("__section", name)
  -- `Component "host" "module"` calls the result with the module name.
  return function(mod) emit("__module", mod) end
end
function env.Include(p) print("global\t__include\tstring\t" .. hex(p)) end
setmetatable(env, { __newindex = function(_, k, v) emit(k, v) end })
local f = assert(loadfile(arg[1], "t", env))
f()
