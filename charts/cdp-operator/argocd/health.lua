-- Argo CD health check for every cdp.dev kind (argocd-cm: resource.customizations.health.cdp.dev_<Kind>)
-- kstatus rules (sigs.k8s.io/cli-utils/pkg/kstatus), plus: Healthy needs Ready=True.
-- Keep in step with
-- operator/cdp_operator/cli/kstatus.py (argocd_health); tests/unit/test_health.py
-- runs it for every kind on the same samples.
local hs = {}

local function find(conditions, ctype)
  if type(conditions) ~= "table" then
    return nil
  end
  for _, c in ipairs(conditions) do
    if type(c) == "table" and c.type == ctype then
      return c
    end
  end
  return nil
end

local function text(c, fallback)
  if type(c.message) == "string" and c.message ~= "" then
    return c.message
  end
  if type(c.reason) == "string" and c.reason ~= "" then
    return c.reason
  end
  return fallback
end

local function is_int(v)
  return type(v) == "number" and v % 1 == 0
end

local metadata = obj.metadata or {}
if metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = "Resource scheduled for deletion"
  return hs
end

local status = obj.status
if type(status) ~= "table" then
  hs.status = "Progressing"
  hs.message = "Waiting for the cdp-operator to report status"
  return hs
end

local generation = metadata.generation
local observed = status.observedGeneration
if generation ~= nil then
  if not is_int(generation) then
    hs.status = "Unknown"
    hs.message = "metadata.generation is not an integer"
    return hs
  end
  if observed ~= nil then
    if not is_int(observed) then
      hs.status = "Unknown"
      hs.message = "status.observedGeneration is not an integer"
      return hs
    end
    if observed ~= generation then
      hs.status = "Progressing"
      -- tostring and .., not string.format: Argo CD's gopher-lua passes
      -- numbers to Go's fmt as floats, so "%d" would not print them.
      hs.message = tostring(obj.kind or "") .. " generation is " .. tostring(generation)
        .. ", but latest observed generation is " .. tostring(observed)
      return hs
    end
  end
end

local stalled = find(status.conditions, "Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = text(stalled, "Stalled")
  return hs
end

local reconciling = find(status.conditions, "Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = text(reconciling, "Reconciling")
  return hs
end

local ready = find(status.conditions, "Ready")
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Ready condition"
  return hs
end
if ready.status == "True" then
  hs.status = "Healthy"
  hs.message = text(ready, "Ready")
  return hs
end
hs.status = "Progressing"
hs.message = text(ready, "Not ready")
return hs
